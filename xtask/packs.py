"""Reading records of record (packs) from Python: a pack's first line may
hold the fields its other lines share (`{"shared": {…}}`, as
`miners_eval::packs` writes them)."""
import json


def pack_results(path):
    """A pack's results: each line with the fields its first line shares, if any."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    shared = rows.pop(0)["shared"] if rows and list(rows[0]) == ["shared"] else {}
    return [{**shared, **row} for row in rows]
