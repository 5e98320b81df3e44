"""JSON answers (a view returning a dict or list, `jsonify`) written by orjson.

Flask's provider writes them with the standard library: on the search API that was a
twentieth of a request, and far more of a screening batch's answer. orjson writes the same
values in the same form: keys sorted, compact, Flask's conversions for what JSON has no
type for (dates as HTTP dates, decimals and UUIDs as text, dataclasses, `__html__`).
Text is UTF-8 rather than `\\u` escapes: the same JSON, a half to a third of the bytes for
Chinese names. Debug mode's indented answers, and any value orjson refuses (an integer
past 64 bits, keys that are not text), are written by Flask's provider as before.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider
from werkzeug.sansio.response import Response

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class JSONAnswers(DefaultJSONProvider):
    def response(self, *args: Any, **kwargs: Any) -> Response:
        if (self.compact is None and self._app.debug) or self.compact is False:
            return super().response(*args, **kwargs)
        value = self._prepare_response_obj(args, kwargs)
        try:
            body = orjson.dumps(value, default=self.default, option=_OPTIONS)
        except TypeError:  # (orjson.JSONEncodeError is one)
            return super().response(*args, **kwargs)
        make: Any = self._app.response_class  # (typed as the sans-I/O base)
        answer: Response = make(body + b"\n", mimetype=self.mimetype)
        return answer
