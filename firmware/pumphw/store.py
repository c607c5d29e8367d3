# What a board keeps on its filesystem between resets (so far: the link's replay counters;
# the therapy state comes with issue 5). Each file is written whole to a temporary name, then
# renamed over the old one: atomic on littlefs (rp2, esp32) and POSIX (the virtual board).
import json
import os


class FileStore:
    def load_counters(self):
        try:
            with open("counters.json") as f:
                return json.load(f)
        except OSError:          # none yet; a corrupt file raises: never reset them silently
            return None

    def save_counters(self, high_water):
        with open("counters.tmp", "w") as f:
            json.dump(list(high_water), f)
        os.rename("counters.tmp", "counters.json")
