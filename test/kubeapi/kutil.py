"""Shared helpers of the test kube-apiserver: API errors as metav1.Status, JSON copies, timestamps.

Everything here is plain data manipulation; no I/O.
"""
import datetime
import json


def jcopy(v):
    """Deep copy of a JSON value (dict/list/str/int/float/bool/None); faster than copy.deepcopy."""
    if isinstance(v, dict):
        return {k: jcopy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [jcopy(x) for x in v]
    return v


def now_rfc3339():
    """Current UTC time as Kubernetes metav1.Time (RFC 3339, whole seconds, Z)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro():
    """Current UTC time as metav1.MicroTime (6 fractional digits, Z)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(s):
    """Parse an RFC 3339 timestamp into an aware datetime; None if it is not one."""
    if not isinstance(s, str):
        return None
    t = s.strip()
    if t.endswith("Z") or t.endswith("z"):
        t = t[:-1] + "+00:00"
    # Python 3.11 fromisoformat accepts fractions of any length and offsets.
    try:
        d = datetime.datetime.fromisoformat(t)
    except ValueError:
        return None
    if d.tzinfo is None:
        return None
    return d


def human_duration(seconds):
    """Age as kubectl prints it (the apiserver does this conversion for date columns)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        r = s % 60
        return f"{m}m" if r == 0 else f"{m}m{r}s"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        r = (s % 3600) // 60
        return f"{h}h" if r == 0 else f"{h}h{r}m"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if h < 24 * 8:
        r = h % 24
        return f"{d}d" if r == 0 else f"{d}d{r}h"
    if d < 365 * 2:
        return f"{d}d"
    y = d // 365
    if d < 365 * 8:
        r = d % 365
        return f"{y}y" if r == 0 else f"{y}y{r}d"
    return f"{y}y"


def dumps(v):
    """Compact JSON encoding used for every response body."""
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """An API failure that becomes a metav1.Status response (or a watch ERROR event)."""

    def __init__(self, code, reason, message, details=None, headers=None, list_meta=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.list_meta = list_meta

    def status(self):
        return status_obj(self.code, self.reason, self.message, self.details, self.list_meta)


def status_obj(code, reason, message, details=None, list_meta=None):
    st = {"kind": "Status", "apiVersion": "v1", "metadata": dict(list_meta or {}),
          "status": "Success" if code < 300 else "Failure", "message": message}
    if reason:
        st["reason"] = reason
    if details:
        st["details"] = {k: v for k, v in details.items() if not (k == "group" and v == "")}
    st["code"] = code
    return st


def generic_error(code, message, retry_after=None, retry_after_header=True):
    """A Status for an arbitrary HTTP code (fault injection, internal errors); retry_after is
    sent as details.retryAfterSeconds and, unless retry_after_header is false, as Retry-After."""
    reason = REASONS.get(code, "InternalError" if code >= 500 else "BadRequest")
    details = None
    headers = {}
    if retry_after is not None:
        details = {"retryAfterSeconds": int(retry_after)}
        if retry_after_header:
            headers["Retry-After"] = str(int(retry_after))
    return ApiError(code, reason, message, details, headers)


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def not_found(res, name):
    return ApiError(404, "NotFound", f'{res.group_resource} "{name}" not found',
                    {"name": name, "group": res.group, "kind": res.plural})


def already_exists(res, name):
    return ApiError(409, "AlreadyExists", f'{res.group_resource} "{name}" already exists',
                    {"name": name, "group": res.group, "kind": res.plural})


def conflict(res, name, why):
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res.group_resource} "{name}": {why}',
                    {"name": name, "group": res.group, "kind": res.plural})


STALE = "the object has been modified; please apply your changes to the latest version and try again"


def forbidden(res, name, why):
    return ApiError(403, "Forbidden", f'{res.group_resource} "{name}" is forbidden: {why}',
                    {"name": name, "group": res.group, "kind": res.plural})


class FieldError:
    """One field.Error: reason (cause type), field path, message body."""

    def __init__(self, reason, field, body):
        self.reason = reason
        self.field = field
        self.body = body

    def __str__(self):
        return f"{self.field}: {self.body}" if self.field else self.body


def fmt_value(v):
    if isinstance(v, str):
        return json.dumps(v)
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return '"' + type(v).__name__ + '"'


def required(field, detail=""):
    return FieldError("FieldValueRequired", field, "Required value" + (f": {detail}" if detail else ""))


def invalid_value(field, value, detail):
    return FieldError("FieldValueInvalid", field, f"Invalid value: {fmt_value(value)}: {detail}")


def unsupported_value(field, value, allowed):
    vals = ", ".join(fmt_value(a) for a in allowed)
    return FieldError("FieldValueNotSupported", field, f"Unsupported value: {fmt_value(value)}: supported values: {vals}")


def forbidden_field(field, detail):
    return FieldError("FieldValueForbidden", field, f"Forbidden: {detail}")


def type_error(field, value, want):
    return FieldError("FieldValueTypeInvalid", field,
                      f"Invalid value: {fmt_value(value)}: {field} in body must be of type {want}: {fmt_value(_json_type(value))}")


def _json_type(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def invalid(res, name, errors):
    """422 Invalid from a list of FieldError (metav1 StatusReasonInvalid)."""
    msgs = [str(e) for e in errors]
    agg = msgs[0] if len(msgs) == 1 else "[" + ", ".join(msgs) + "]"
    return ApiError(422, "Invalid", f'{res.qualified_kind} "{name}" is invalid: {agg}',
                    {"name": name, "group": res.group, "kind": res.kind,
                     "causes": [{"reason": e.reason, "message": e.body, "field": e.field} for e in errors]})
