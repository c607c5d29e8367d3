"""`pumpctl sim SCENARIO --report OUTDIR`: an HTML report of a simulated run, and the progress
bar of long runs.

OUTDIR/index.html is self-contained (CSS inline); each plot sits beside it as NAME.png and
NAME.svg (matplotlib, Agg), referenced relatively, so the folder can be moved or zipped whole:

- rate: programmed and delivered dose rate per time bin (ug/day at the reservoir's
  concentration), with the spans when delivery was stopped;
- cumulative: programmed and delivered volume, and the error between them in steps at the
  instants the clock visited (the summary's max_abs_error_steps is the largest of them);
- reservoir: the pump's estimate and the true volume, the low and empty thresholds, refills
  and the refill forecast;
- timeline: boluses given and refused (with the reason), alarms from raised to cleared, refills,
  stops and restarts;
- trumpet: IEC 60601-2-24's trumpet curve over the second hour.

The numbers in the summary table are the simulation's own summary (Simulation.summary()),
also embedded as JSON. The recorder is pumpsim.record; the methods are in docs/simulator.md.
"""
import html
import json
import os

from pump.names import ALARM_NAMES, BOLUS_NAMES, REASON_NAMES
from pump import codes
from pumpctl import progress
from pumpsim.record import Recorder
from pumpsim.scenario import clock

PROGRESS_MIN_DAYS = 7       # runs longer than this show progress on stderr
PLOTS = ("rate", "cumulative", "reservoir", "timeline", "trumpet")
MAX_TABLE_ROWS = 200


class Progress(progress.Progress):
    """Simulated days done / total (pumpctl.progress); quiet for a run done within after_s
    seconds (most are). Callable as a simulation's recorder."""

    def __init__(self, end_s, stream=None, label="sim", after_s=1.0):
        progress.Progress.__init__(
            self, end_s, label, lambda t: f"{t / 86400:.0f}/{end_s / 86400:.0f} simulated days",
            stream, after_s)
        self._next_t = 0

    def __call__(self, t_s, *_):
        if t_s < self._next_t:
            return
        self._next_t = t_s + self.total // 1000
        self.update(t_s)


def run(scenario, days, progress=None):
    """Run the scenario for `days` with a recorder; (summary, recorder)."""
    end_s = days * 86400
    rec = Recorder(end_s, scenario.board, progress=progress)
    sim = scenario.simulation(recorder=rec)
    summary = sim.run(end_s)
    rec.finish(sim.t)
    return summary, rec


# ---- plots ----

def _figure(width=10, height=4.2):
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, out_dir, name):
    fig.savefig(os.path.join(out_dir, name + ".png"))
    fig.savefig(os.path.join(out_dir, name + ".svg"), metadata={"Date": None})


class _Axis:
    """The time axis: hours for runs of two days or less, else days."""

    def __init__(self, end_s):
        self.hours = end_s <= 2 * 86400
        self.div = 3600 if self.hours else 86400
        self.label = "time (hours from the start)" if self.hours else "time (days)"

    def __call__(self, t_s):
        return t_s / self.div


def _shade_stopped(ax, rec, x, end_s, label=True):
    for i, (a, b) in enumerate(rec.stopped):
        ax.axvspan(x(a), x(end_s if b is None else b), color="#f3c4c4", alpha=0.5, lw=0,
                   label="delivery stopped" if label and i == 0 else None)


def _shade_off(ax, rec, x, label=True):
    """The spans the power was off (a power cut, to the restart)."""
    for i, (a, b) in enumerate(rec.off):
        ax.axvspan(x(a), x(rec.end_s if b is None else b), color="#9e9e9e", alpha=0.35, lw=0,
                   hatch="//", label="power off" if label and i == 0 else None)


def plot_rate(rec, summary, out_dir, x):
    fig = _figure()
    ax = fig.add_subplot()
    w = rec.bin_s
    edges = [x(i * w) for i in range(rec.n_bins)] + [x(rec.end_s)]
    widths = [min(w, rec.end_s - i * w) for i in range(rec.n_bins)]
    prog = [u * 86400 / d for u, d in zip(rec.prog_ug, widths)]
    deliv = [u * 86400 / d for u, d in zip(rec.deliv_ug, widths)]
    _shade_stopped(ax, rec, x, rec.end_s)
    _shade_off(ax, rec, x)
    daily = rec.end_s >= 3 * 86400 and w < 86400
    fine = f", {_width(w)} means" if daily else ""
    ax.stairs(prog, edges, color="#1f4e9c", lw=1.0 if daily else 2.2, baseline=None,
              alpha=0.45 if daily else 1, label="programmed" + fine)
    ax.stairs(deliv, edges, color="#e07b00", lw=0.7 if daily else 1.0, baseline=None,
              alpha=0.6 if daily else 1, label="delivered (motor steps)" + fine)
    if daily:           # the daily dose, the figure a clinician reads, on top
        k = 86400 // w
        days = range(0, rec.n_bins, k)
        d_edges = [x(i * w) for i in days] + [x(rec.end_s)]
        d_widths = [sum(widths[i:i + k]) for i in days]
        ax.stairs([sum(rec.prog_ug[i:i + k]) * 86400 / dw
                   for i, dw in zip(days, d_widths)], d_edges, color="#1f4e9c", lw=2.4,
                  baseline=None, label="programmed, daily")
        ax.stairs([sum(rec.deliv_ug[i:i + k]) * 86400 / dw for i, dw in zip(days, d_widths)],
                  d_edges, color="#e07b00", lw=1.2, ls="--", baseline=None,
                  label="delivered, daily")
    ax.set_xlabel(x.label)
    ax.set_ylabel("dose rate (ug/day)")
    ax.set_title("Programmed vs delivered dose rate" +
                 (f", daily and {_width(w)} means" if daily else f", {_width(w)} means"))
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(0, max(prog + deliv + [1]) * 1.25)      # room for the legend
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=9, framealpha=0.95)
    fig.tight_layout()
    _save(fig, out_dir, "rate")
    return fig


def _width(s):
    if s % 86400 == 0:
        return f"{s // 86400} d"
    if s % 3600 == 0:
        return f"{s // 3600} h"
    return f"{s // 60} min"


def plot_cumulative(rec, summary, out_dir, x):
    fig = _figure(height=5.6)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    nl = rec.nl_per_step
    # the pump's own programmed count (the summary's programmed_nl): at a restart it steps
    # from where it froze at the cut to the count restored from the checkpoint
    pts = sorted([(e[0], 0, e[1], e[2]) for e in rec.edges] +
                 [(j[0], 1, j[1], j[3]) for j in rec.jumps] +
                 [(j[0], 2, j[2], j[3]) for j in rec.jumps])
    _shade_off(top, rec, x)
    _shade_off(bottom, rec, x, label=False)
    t = [x(p[0]) for p in pts]
    top.plot(t, [p[2] * nl / 1e6 for p in pts], color="#1f4e9c", lw=2.2,
             label="programmed (the pump's count)")
    top.plot(t, [p[3] * nl / 1e6 for p in pts], color="#e07b00", lw=1.0, ls="--",
             label="delivered")
    if rec.jumps:
        top.plot([x(j[0]) for j in rec.jumps], [j[2] * nl / 1e6 for j in rec.jumps], "*",
                 color="#6a3d9a", ms=9, label="restart: count restored from the checkpoint")
    top.set_ylabel("cumulative volume (mL)")
    top.set_title("Cumulative programmed and delivered volume; error in motor steps")
    top.grid(alpha=0.3)
    top.legend(loc="upper left", fontsize=9)
    w = rec.bin_s
    mids, lo, hi = [], [], []
    for i in range(rec.n_bins):
        if rec.err_lo[i] is not None:
            mids.append(x(min(i * w + w / 2, rec.end_s)))
            lo.append(rec.err_lo[i])
            hi.append(rec.err_hi[i])
    bottom.fill_between(mids, lo, hi, color="#7a9cd6", alpha=0.6, step="mid", lw=0,
                        label="programmed - delivered, least to greatest in each bin")
    bottom.plot(mids, hi, color="#1f4e9c", lw=0.7, drawstyle="steps-mid")
    bottom.plot(mids, lo, color="#1f4e9c", lw=0.7, drawstyle="steps-mid")
    worst = summary["max_abs_error_steps"]
    bottom.axhline(worst, color="#b00020", lw=1, ls="--",
                   label=f"summary max_abs_error_steps = {worst:.4g}")
    bottom.axhline(-worst, color="#b00020", lw=1, ls="--")
    bottom.axhline(1, color="k", lw=0.8, ls=":", label="bound: 1 step")
    bottom.axhline(-1, color="k", lw=0.8, ls=":")
    bottom.set_ylim(-1.2, 1.2)
    bottom.set_ylabel("error (steps)")
    bottom.set_xlabel(x.label)
    bottom.set_xlim(t[0], t[-1])
    bottom.grid(alpha=0.3)
    bottom.legend(loc="lower left", fontsize=8, ncol=3)
    fig.tight_layout()
    _save(fig, out_dir, "cumulative")
    return fig


def plot_reservoir(rec, summary, out_dir, x):
    fig = _figure(height=4.6)
    ax = fig.add_subplot()
    ml = 1e6
    end = rec.end_s
    forecast = summary["refill_forecast_s"]             # the pump's clock: make it true time
    forecast = None if forecast is None else forecast + rec.lag_s
    right = max(end, forecast) if forecast is not None else end
    x = _Axis(right)            # the forecast may reach well past the run
    _shade_off(ax, rec, x)
    t = [x(p[0]) for p in rec.reservoir]
    ax.plot(t, [p[1] / ml for p in rec.reservoir], color="#1f4e9c", lw=2,
            label="pump's estimate")
    ax.plot(t, [p[2] / ml for p in rec.reservoir], color="#2a9d3a", lw=1, ls="--",
            label="true volume")
    for key, colour, name in ((1, "#d98e04", "low threshold"), (2, "#b00020", "empty threshold")):
        xs, ys = [], []
        for i, th in enumerate(rec.thresholds):
            nxt = rec.thresholds[i + 1][0] if i + 1 < len(rec.thresholds) else right
            xs += [x(th[0]), x(nxt)]
            ys += [th[key] / ml, th[key] / ml]
        ax.plot(xs, ys, color=colour, lw=1.2, ls="-.", label=name)
    refills = [e for e in rec.events if e[1] == codes.E_REFILL]
    if refills:
        ax.plot([x(e[0]) for e in refills], [e[2] / ml for e in refills], "v", color="#2a9d3a",
                ms=7, label="refill (added)")
    if forecast is not None and rec.thresholds:
        low = rec.thresholds[-1][1] / ml
        ax.plot([x(end), x(forecast)], [summary["reservoir_nl_end"] / ml, low], color="#d98e04",
                lw=1.2, ls=":", label="forecast: every allowed\npatient bolus taken")
        ax.axvline(x(forecast), color="#d98e04", lw=1, ls=":")
        ax.annotate(f"refill by {clock(forecast)}", (x(forecast), 0.5),
                    xycoords=("data", "axes fraction"), xytext=(-6, 0),
                    textcoords="offset points", ha="right", va="center", fontsize=9,
                    color="#8a5a00", backgroundcolor="white")
    elif forecast is None:
        ax.text(0.99, 0.97, "no refill forecast: delivery stopped at the end", ha="right",
                va="top", transform=ax.transAxes, fontsize=9)
    ax.set_xlim(0, x(right) * 1.01)
    ax.set_ylim(bottom=0)
    ax.set_xlabel(x.label)
    ax.set_ylabel("reservoir (mL)")
    ax.set_title("Reservoir: estimate and truth, thresholds, refills and the refill forecast")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    fig.tight_layout()
    _save(fig, out_dir, "reservoir")
    return fig


_REASON_COLOURS = ("#b00020", "#6a3d9a", "#ff7f00", "#1b9e77", "#e7298a", "#666666",
                   "#a6761d", "#1f78b4")


def _alarm_spans(rec):
    """(code, raised_s, cleared_s or None, [acked_s]) per alarm episode."""
    open_, spans = {}, []
    for t, code, a, b in rec.events:
        if code == codes.E_ALARM:
            if a not in open_:
                open_[a] = [a, t, None, []]
                spans.append(open_[a])
        elif code == codes.E_ALARM_ACK and a in open_:
            open_[a][3].append(t)
        elif code == codes.E_ALARM_CLEAR and a in open_:
            open_.pop(a)[2] = t
    return spans


def plot_timeline(rec, summary, out_dir, x):
    given, refused, aborted = {}, {}, {}
    for t, code, a, b in rec.events:
        if code == codes.E_BOLUS_START:
            given.setdefault(a, []).append(t)
        elif code == codes.E_BOLUS_REFUSED:
            refused.setdefault(a, {}).setdefault(b, []).append(t)
        elif code == codes.E_BOLUS_ABORTED:
            aborted.setdefault(a, []).append(t)
    spans = _alarm_spans(rec)
    other = [(t, code) for t, code, a, b in rec.events if code in (
        codes.E_REFILL, codes.E_REFILL_REJECTED, codes.E_STOP, codes.E_RESUME,
        codes.E_PROGRAMME, codes.E_RESTORED, codes.E_STATE_LOST, codes.E_FAULT)]
    kinds = sorted(set(given) | set(refused) | set(aborted))
    alarm_codes = sorted({s[0] for s in spans})
    rows = [f"bolus: {BOLUS_NAMES[k]}" for k in kinds] + \
        [f"alarm: {ALARM_NAMES[c]}" for c in alarm_codes] + ["pump"]
    shown = {}
    for k in kinds:
        n_given = len(given.get(k, ()))
        n_refused = sum(len(v) for v in refused.get(k, {}).values())
        shown[f"bolus: {BOLUS_NAMES[k]}"] = f"{BOLUS_NAMES[k]} bolus\n{n_given} given" + (
            f", {n_refused} refused" if n_refused else "")
    for c in alarm_codes:
        n = sum(1 for sp in spans if sp[0] == c)
        shown[f"alarm: {ALARM_NAMES[c]}"] = f"alarm {ALARM_NAMES[c]}\n{n}x"
    fig = _figure(height=max(2.8, 1.3 + 0.42 * len(rows)))
    ax = fig.add_subplot()
    y = {}
    for i, name in enumerate(rows):
        y[name] = len(rows) - 1 - i
    reasons = sorted({r for per in refused.values() for r in per})
    colour = dict((r, _REASON_COLOURS[i % len(_REASON_COLOURS)]) for i, r in enumerate(reasons))
    labelled = set()

    def once(name):
        if name in labelled:
            return None
        labelled.add(name)
        return name

    for k in kinds:
        row = y[f"bolus: {BOLUS_NAMES[k]}"]
        if k in given:
            ax.plot([x(t) for t in given[k]], [row] * len(given[k]), "|", color="#1f4e9c",
                    ms=14, mew=1.5, label=once("bolus given"))
        if k in aborted:
            ax.plot([x(t) for t in aborted[k]], [row] * len(aborted[k]), "s", mfc="none",
                    color="#444444", ms=7, label=once("bolus aborted"))
        for r, ts in sorted(refused.get(k, {}).items()):
            ax.plot([x(t) for t in ts], [row + 0.22] * len(ts), "x", color=colour[r], ms=7,
                    mew=1.6, label=once(f"refused: {REASON_NAMES[r]}"))
    end = rec.end_s
    for code, raised, cleared, acks in spans:
        row = y[f"alarm: {ALARM_NAMES[code]}"]
        crit = codes.ALARM_PRIORITY[code] == codes.P_CRITICAL
        c = "#b00020" if crit else "#d98e04"
        stop = end if cleared is None else cleared
        ax.broken_barh([(x(raised), max(x(stop) - x(raised), x(end) / 400))], (row - 0.3, 0.6),
                       color=c, alpha=0.75,
                       label=once("critical alarm, raised to cleared" if crit
                                  else "warning alarm, raised to cleared"))
        if acks:
            ax.plot([x(t) for t in acks], [row] * len(acks), "o", color="k", ms=4,
                    label=once("acknowledged"))
    marks = {codes.E_REFILL: ("v", "#2a9d3a", "refill"),
             codes.E_REFILL_REJECTED: ("v", "#b00020", "refill rejected"),
             codes.E_STOP: ("s", "#b00020", "stop"), codes.E_RESUME: ("s", "#2a9d3a", "resume"),
             codes.E_PROGRAMME: ("D", "#1f4e9c", "programme"),
             codes.E_RESTORED: ("*", "#6a3d9a", "restart (restored)"),
             codes.E_STATE_LOST: ("*", "#b00020", "restart (state lost)"),
             codes.E_FAULT: ("P", "#b00020", "fault before a reset")}
    for code, (m, c, name) in marks.items():
        ts = [t for t, k in other if k == code]
        if ts:
            ax.plot([x(t) for t in ts], [y["pump"]] * len(ts), m, color=c, ms=7,
                    label=once(name))
    for a, b in rec.off:
        ax.broken_barh([(x(a), x(end if b is None else b) - x(a))], (y["pump"] - 0.3, 0.6),
                       color="#9e9e9e", alpha=0.6, hatch="//", label=once("power off"))
    ax.set_yticks([y[r] for r in rows], [shown.get(r, r) for r in rows], fontsize=8.5)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlim(-x(end) / 100, x(end) * 1.01)
    ax.set_xlabel(x.label)
    ax.set_title("Timeline: boluses (given, refused with the reason), alarms, pump events")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    fig.tight_layout()
    _save(fig, out_dir, "timeline")
    return fig


def plot_trumpet(tc, out_dir):
    fig = _figure(width=8, height=4.6)
    ax = fig.add_subplot()
    if tc is None or "skipped" in tc:
        why = "the run is shorter than two hours" if tc is None else tc["skipped"]
        ax.text(0.5, 0.5, f"No trumpet curve:\n{why}", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
    else:
        ws = [w for w in tc["windows"] if w["max_pct"] is not None]
        p = [w["minutes"] for w in ws]
        ax.plot(p, [w["max_pct"] for w in ws], "o-", color="#b00020", label="Ep(max)")
        ax.plot(p, [w["min_pct"] for w in ws], "o-", color="#1f4e9c", label="Ep(min)")
        ax.plot(p, [w["one_step_pct"] for w in ws], ":", color="#555555",
                label="one motor step in the window")
        ax.plot(p, [-w["one_step_pct"] for w in ws], ":", color="#555555")
        if tc["mean_error_pct"] is not None:
            ax.axhline(tc["mean_error_pct"], color="k", lw=1, ls="--",
                       label=f"A (mean error, 2nd hour) = {tc['mean_error_pct']:.3g} %")
        ax.axhline(0, color="#999999", lw=0.6)
        ax.set_xticks(p)
        ax.set_xlim(0, max(p) + 1 if p else 32)
        ax.set_xlabel("observation window P (min)")
        ax.set_ylabel("flow error (%)")
        against = "the programmed rate" if tc["constant_rate"] else \
            "the programmed delivery (not a constant rate)"
        ax.set_title(f"Trumpet curve (IEC 60601-2-24), second hour, 30 s samples,\n"
                     f"against {against}", fontsize=11)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    _save(fig, out_dir, "trumpet")
    return fig


# ---- the page ----

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1d1d1f;line-height:1.45}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:2em;
border-bottom:1px solid #ddd;padding-bottom:.2em}
.meta{color:#555} img{max-width:100%;height:auto;border:1px solid #eee}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f5f5f7} td.v{font-family:ui-monospace,Menlo,Consolas,monospace}
td.num{text-align:right;font-family:ui-monospace,Menlo,Consolas,monospace}
.note{background:#fff8e1;border-left:4px solid #d98e04;padding:.4em .8em}
.bad{background:#fdecea;border-left:4px solid #b00020;padding:.4em .8em}
figcaption{color:#444;font-size:.92em;margin:.3em 0 1em}
"""


def _esc(s):
    return html.escape(str(s), quote=True)


# summary fields on the pump's clock (its log's times), not the simulator's true time
PUMP_CLOCK = ("alarms", "refill_forecast_s")


def _reads_as(key, v, s, lag_s=None):
    """A word for people beside the exact value. lag_s: true - pump clock at the end, when the
    pump restarted or its clock lags (pump-clock fields are labelled then)."""
    if lag_s is not None and key in PUMP_CLOCK:
        if key == "alarms":
            return "first, first_s: the pump's clock" if v else ""
        if isinstance(v, int):
            return f"{clock(v)} on the pump's clock ({clock(v + lag_s)} true time)"
    if v is None:
        return ""
    if ("_nl_" in key or key.endswith("_nl")) and isinstance(v, int):
        return f"{v / 1e6:.3f} mL"
    if key.endswith("_s") and isinstance(v, int):
        return clock(v)
    if key == "max_abs_error_steps":
        return f"{v * s['nl_per_step']:.3g} nL"
    return ""


def _summary_table(s, lag_s=None):
    rows = []
    for k in sorted(s):
        v = json.dumps(s[k], sort_keys=True)
        rows.append(f'<tr><th>{_esc(k)}</th><td class="v" data-key="{_esc(k)}">{_esc(v)}</td>'
                    f"<td>{_esc(_reads_as(k, s[k], s, lag_s))}</td></tr>")
    return "<table><tr><th>field</th><th>value</th><th>reads as</th></tr>" + \
        "".join(rows) + "</table>"


def _trumpet_table(tc):
    if tc is None:
        return "<p>The run is shorter than two hours: no trumpet curve.</p>"
    if "skipped" in tc:
        return f'<p class="note">No trumpet curve: {_esc(tc["skipped"])}.</p>'

    def pct(v):
        return "—" if v is None else f"{v:+.4f}"

    rows = "".join(
        f"<tr><td class=num>{w['minutes']}</td><td class=num>{w['windows']}</td>"
        f"<td class=num>{w['counted']}</td><td class=num>{pct(w['max_pct'])}</td>"
        f"<td class=num>{pct(w['min_pct'])}</td><td class=num>{pct(w['one_step_pct'])}</td>"
        "</tr>" for w in tc["windows"])
    head = ("<tr><th>P (min)</th><th>windows m</th><th>counted</th><th>Ep(max) %</th>"
            "<th>Ep(min) %</th><th>one step, %</th></tr>")
    out = f"<table>{head}{rows}</table>"
    a = tc["mean_error_pct"]
    out += (f"<p>A, the mean flow error over the second hour: <b>{pct(a)} %</b> "
            f"({tc['delivered_steps']} steps delivered, {tc['programmed_steps']:.3f} "
            "programmed).</p>")
    if tc["constant_rate"]:
        r = tc["rate_steps_per_s"]
        out += (f"<p>The programme is a constant rate through the second hour: {r:.6g} "
                "steps/s.</p>")
    else:
        out += ('<p class="note">The programme is <b>not a constant rate</b> in the second '
                "hour (a bolus, a change of basal rate, or a stop): each window's error is "
                "taken against what was programmed in that window, not against a set rate, "
                "so the curve shows the step generator's quantisation, not the programme's "
                "shape.</p>")
    return out


def _events_tables(rec):
    refusals = [e for e in rec.events if e[1] == codes.E_BOLUS_REFUSED]
    out = [f"<h3>Refused boluses ({len(refusals)})</h3>"]
    if refusals:
        rows = "".join(f"<tr><td>{_esc(clock(t))}</td><td>{_esc(BOLUS_NAMES[a])}</td>"
                       f"<td>{_esc(REASON_NAMES[b])}</td></tr>"
                       for t, _, a, b in refusals[:MAX_TABLE_ROWS])
        out.append("<table><tr><th>when (true time)</th><th>bolus</th><th>reason</th></tr>"
                   f"{rows}</table>")
        if len(refusals) > MAX_TABLE_ROWS:
            out.append(f"<p>… and {len(refusals) - MAX_TABLE_ROWS} more.</p>")
    spans = _alarm_spans(rec)
    out.append(f"<h3>Alarms ({len(spans)} episodes)</h3>")
    if spans:
        rows = "".join(
            f"<tr><td>{_esc(ALARM_NAMES[c])}</td><td>{_esc(clock(r))}</td>"
            f"<td>{_esc(', '.join(clock(t) for t in acks) or '—')}</td>"
            f"<td>{_esc('still active at the end' if cl is None else clock(cl))}</td></tr>"
            for c, r, cl, acks in spans[:MAX_TABLE_ROWS])
        out.append("<table><tr><th>alarm</th><th>raised (true time)</th><th>acknowledged</th>"
                   f"<th>cleared</th></tr>{rows}</table>")
    if rec.events_dropped:
        out.append(f"<p class=note>{rec.events_dropped} later events were not kept "
                   "(the recorder keeps the first 100,000).</p>")
    return "".join(out)


def _span(s):
    s = int(s)
    d, h, m, sec = s // 86400, s // 3600 % 24, s // 60 % 60, s % 60
    return (f"{d} d " if d else "") + f"{h:02d}:{m:02d}:{sec:02d}"


def _clock_note(rec):
    """A note when the pump restarted or its clock lags true time, or None."""
    if not rec.restarts and not rec.lag_s:
        return None
    out = []
    if rec.off:
        out.append("The power was off " + "; ".join(
            f"from {clock(a)} to " + ("the end" if b is None else clock(b)) for a, b in rec.off)
            + " (true time).")
    elif rec.restarts:
        out.append(f"The pump restarted {len(rec.restarts)} time(s).")
    if rec.lag_s:
        out.append(f"At the end the pump's clock lags true time by <b>{_span(rec.lag_s)}</b> "
                   f"({rec.lag_s} s; it restarted without its clock).")
    else:
        out.append("At the end the pump's clock agrees with true time.")
    out.append("In the summary, <b>alarms</b> (first, first_s) and <b>refill_forecast_s</b> "
               "are on the pump's clock (its log's times); the plots and the event tables "
               "below are in true time from the start of the run.")
    return '<p class="note">' + " ".join(out) + "</p>"


def _figure_html(name, title, caption):
    return (f'<h2 id="{name}">{_esc(title)}</h2><figure><a href="{name}.svg">'
            f'<img src="{name}.png" alt="{_esc(title)}"></a>'
            f"<figcaption>{caption} (<a href=\"{name}.svg\">SVG</a>)</figcaption></figure>")


def write_report(out_dir, title, summary, rec, elapsed_s=None):
    """Write out_dir/index.html and the plots beside it; returns the index path."""
    os.makedirs(out_dir, exist_ok=True)
    x = _Axis(rec.end_s)
    tc = rec.trumpet_curve()
    plot_rate(rec, summary, out_dir, x)
    plot_cumulative(rec, summary, out_dir, x)
    plot_reservoir(rec, summary, out_dir, x)
    plot_timeline(rec, summary, out_dir, x)
    plot_trumpet(tc, out_dir)
    s = summary
    bins = _width(rec.bin_s)
    parts = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        f"<title>OpenITB simulation: {_esc(title)}</title>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<style>{_CSS}</style></head><body>",
        f"<h1>OpenITB simulation report</h1><p class=meta><b>{_esc(title)}</b>: "
        f"{s['days']:g} days on board '{_esc(s['board'])}' ({s['nl_per_step']} nL/step). "
        "Simulated by the unchanged dosing core on the virtual board (docs/simulator.md). "
        "Not a medical device.</p>",
    ]
    if s["violations"]:
        parts.append('<p class="bad"><b>Invariant violations:</b> ' +
                     "; ".join(_esc(v) for v in s["violations"]) + "</p>")
    parts.append("<h2 id=summary>Summary</h2><p>Exactly the simulation's summary "
                 "(docs/simulator.md, “Summary”), as `pumpctl sim --json` prints it.</p>")
    note = _clock_note(rec)
    if note:
        parts.append(note)
    parts.append(_summary_table(s, rec.lag_s if note else None))
    parts.append(_figure_html(
        "rate", "Dose rate",
        f"Programmed (the core's plan: basal and boluses while delivering) and delivered (motor "
        f"steps) dose, each as its mean over {bins} bins, in ug/day at the reservoir's "
        "concentration; shaded: delivery stopped (a stop or a critical alarm); hatched grey: "
        "the power was off (nothing programmed or delivered)."))
    parts.append(_figure_html(
        "cumulative", "Cumulative delivery and error",
        "Top: programmed (the pump's own count, the summary's programmed_nl; at a restart it "
        "steps to the count restored from the checkpoint, starred) and delivered volume since "
        "the start. Bottom: programmed − delivered "
        f"in motor steps at every instant the clock visited, least to greatest per {bins} bin; "
        "the summary's max_abs_error_steps is the largest magnitude. Between visits the step "
        "generator keeps it in [0, 1) by construction."))
    parts.append(_figure_html(
        "reservoir", "Reservoir",
        "The pump's estimate (from its steps) and the true volume, the programme's low and "
        "empty thresholds, refills (volume added), and the refill forecast at the end: when "
        "the low threshold is reached if every allowed patient bolus is taken."))
    parts.append(_figure_html(
        "timeline", "Timeline",
        "Boluses given (bars) and refused (crosses, coloured by reason), alarms from raised to "
        "cleared (red: critical, stops delivery; amber: warning) with acknowledgements, and "
        "pump events (refills, stops, programmes, restarts, power off)."))
    parts.append(_events_tables(rec))
    parts.append(_figure_html(
        "trumpet", "Trumpet curve",
        "IEC 60601-2-24: observation windows of 2, 5, 11, 19 and 31 min slid in "
        "30 s steps over the second hour; Ep(max) and Ep(min) are the largest and least "
        "percentage flow error of any window, A the error over the whole hour. Computed from "
        "the motor's steps (the simulator's balance); dotted: one step in the window."))
    parts.append(_trumpet_table(tc))
    foot = f"Simulated in {elapsed_s:.2f} s. " if elapsed_s is not None else ""
    parts.append(f"<p class=meta>{foot}Bins of {bins}; {rec.records} plans recorded.</p>")
    parts.append('<script type="application/json" id="summary-json">' +
                 json.dumps(s, sort_keys=True).replace("</", "<\\/") + "</script>")
    parts.append("</body></html>\n")
    path = os.path.join(out_dir, "index.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(parts))
    return path

