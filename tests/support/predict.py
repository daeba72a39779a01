"""python -m fastkp.predict run in this process, for its JSON record."""

from __future__ import annotations

import json

from fastkp.predict import cli as predict_main


def predict_record(model, image) -> dict:
    """python -m fastkp.predict's record for one image, from its stdout."""
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert predict_main([str(model), str(image)]) == 0
    return json.loads(buf.getvalue())
