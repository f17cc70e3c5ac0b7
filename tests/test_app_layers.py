"""Apps import downwards only, as docs/architecture.md says: a change that makes an app
import one above it fails here."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Each app and the apps it may import.
MAY_IMPORT = {
    "vehicles": set(),
    "recordings": set(),
    "appointments": {"vehicles"},
    "callcenter": {"vehicles", "recordings", "appointments"},
    "telephony": {"vehicles", "recordings", "appointments", "callcenter"},
    "campaigns": {"vehicles", "recordings", "appointments", "callcenter", "telephony"},
    "desk": {"vehicles", "recordings", "appointments", "callcenter", "telephony"},
    "monitoring": {"callcenter", "desk"},
    "agentworker": {
        "vehicles",
        "recordings",
        "appointments",
        "callcenter",
        "telephony",
        "campaigns",
        "desk",
    },
}


def imported_apps(app: str) -> dict[str, str]:
    """The other apps (and ``config``) ``app`` imports: app -> where, first seen."""
    found = {}
    for path in sorted((ROOT / app).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                top = name.split(".")[0]
                if top != app and top in {*MAY_IMPORT, "config"}:
                    found.setdefault(top, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_app_imports_only_the_apps_below_it():
    wrong = {
        app: {other: where for other, where in imported_apps(app).items() if other not in allowed}
        for app, allowed in MAY_IMPORT.items()
    }
    assert {app: found for app, found in wrong.items() if found} == {}
    # The check sees imports: the worker's own imports of the apps below it are found.
    assert set(imported_apps("agentworker")) >= {"callcenter", "telephony", "appointments"}
