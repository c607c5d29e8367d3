"""docs/protocol.md is up to date with the code it documents: its generated part (the message
table, nak reasons, status flags, codes and worked examples) is what protocol/make_docs.py
writes now. If this fails, run `python protocol/make_docs.py` and commit the result."""
from make_docs import DOC, main, render


def _doc():
    with open(DOC, encoding="utf-8") as f:
        return f.read()


def test_protocol_doc_is_up_to_date():
    text = _doc()
    assert render(text) == text, "docs/protocol.md is stale: run python protocol/make_docs.py"


def test_check_fails_on_a_stale_doc_and_keeps_the_prose(tmp_path):
    text = _doc()
    stale = tmp_path / "protocol.md"
    stale.write_text(text.replace("| 20 | [`patient_bolus`]", "| 19 | [`patient_bolus`]"),
                     encoding="utf-8")
    assert main(["--check", "--doc", str(stale)]) == 1
    assert main(["--doc", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == text
    assert main(["--check", "--doc", str(stale)]) == 0
