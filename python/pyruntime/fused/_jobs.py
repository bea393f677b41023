"""Running UDFs of a udftiles server from Python: one run, and many runs as a
job (fused.submit). Shared by the `fused` module of the workers and by the
Python client (clients/python), so it needs only the standard library; numpy,
pandas and geopandas are used when they are installed.
"""
import base64
import datetime
import io
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

MAX_DEPTH = 5  # nested runs and submits a UDF may start, as Fused allows


class ServerError(Exception):
    """A run or a request the server answered with an error."""

    def __init__(self, status, message, logs=""):
        super().__init__("%s: %s" % (status, message))
        self.status, self.message, self.logs = status, message, logs


class Client:
    """A udftiles server: base URL (UDFTILES_URL) and an optional bearer token
    (UDFTILES_TOKEN). timeout bounds each request in seconds (None: no
    bound), run_timeout a run's (default: timeout)."""

    def __init__(self, url=None, token=None, timeout=300, depth=0, run_timeout=None):
        self.url = (url or os.environ.get("UDFTILES_URL") or "http://127.0.0.1:8080").rstrip("/")
        self.token = token if token is not None else os.environ.get("UDFTILES_TOKEN", "")
        self.timeout = timeout
        self.run_timeout = run_timeout
        self.depth = depth

    def request(self, method, path, params=None, body=None, timeout=None):
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        if self.depth:
            req.add_header("X-Udftiles-Depth", str(self.depth))
        if timeout is None:
            timeout = self.timeout
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.headers, r.read()
        except TimeoutError:
            raise TimeoutError("%s %s: no answer from %s within %ss" % (method, path, self.url, timeout)) from None
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                err = json.loads(raw)
            except ValueError:
                err = {"error": raw.decode("utf-8", "replace")}
            raise ServerError(e.code, err.get("error", ""), err.get("logs", "")) from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, TimeoutError):
                raise TimeoutError("%s %s: no answer from %s within %ss" % (method, path, self.url, timeout)) from None
            raise

    def json(self, method, path, params=None, body=None, timeout=None):
        _, _, raw = self.request(method, path, params, body, timeout=timeout)
        return json.loads(raw)

    def long_timeout(self):
        """The bound of a request that may take long: one that runs code on
        the server (a run, a save or restore, which load the UDF in a
        worker) or fetches all of a job's results: run_timeout."""
        return self.run_timeout if self.run_timeout is not None else self.timeout

    def run(self, udf, x=None, y=None, z=None, bounds=None, **params):
        """Run a layer once: a tile with x, y, z, else file mode (with bounds).
        A name starting with fsh_ is a shared token (its realtime-shared routes)."""
        params = {k: _param(v) for k, v in params.items() if v is not None}
        name = urllib.parse.quote(str(udf), safe="")
        shared = str(udf).startswith("fsh_")
        if x is not None and y is not None and z is not None:
            path = ("/server/v1/realtime-shared/%s/run/tiles/%d/%d/%d" if shared else
                    "/v1/udfs/%s/tiles/%d/%d/%d") % (name, int(z), int(x), int(y))
        else:
            path = ("/server/v1/realtime-shared/%s/run/file" if shared else "/v1/udfs/%s/run") % name
            if bounds is not None:
                if hasattr(bounds, "total_bounds"):
                    bounds = list(bounds.total_bounds)
                params["bounds"] = ",".join(str(float(b)) for b in bounds)
        _, headers, raw = self.request("GET", path, params,
                                       timeout=self.run_timeout if self.run_timeout is not None else self.timeout)
        return decode(raw, headers.get("Content-Type", ""))

    def submit(self, udf, arg_list, *, max_workers=None, max_retry=2, debug_mode=False, collect=True,
               cache_max_age=None, cache=True, ignore_exceptions=False, flatten=True, **kwargs):
        """Run a layer once per item of arg_list on the server (fused.submit)."""
        items = _arg_items(arg_list)
        if debug_mode:
            first = items[0] if items else {}
            if isinstance(first, dict):
                return self.run(udf, **dict(kwargs, **first))
            return self.run(udf, **kwargs) if first is None else _run_first(self, udf, first, kwargs)
        body = {"arg_list": items, "params": {k: _param(v) for k, v in kwargs.items()},
                "max_retry": max_retry, "ignore_exceptions": ignore_exceptions}
        if max_workers:
            body["max_workers"] = int(max_workers)
        if not cache:
            cache_max_age = "0s"
        if cache_max_age is not None:
            body["cache_max_age"] = str(cache_max_age)
        job = self.json("POST", "/v1/udfs/%s/submit" % urllib.parse.quote(str(udf), safe=""), body=body)
        pool = JobPool(self, job["id"], ignore_exceptions=ignore_exceptions, flatten=flatten, given=_given_items(arg_list))
        if collect:
            pool.wait()
            return pool.collect()
        return pool


def _run_first(client, udf, value, kwargs):
    """debug_mode with a plain value: the first parameter is the server's to name."""
    meta = client.json("GET", "/v1/udfs/%s" % urllib.parse.quote(str(udf), safe=""))
    params = meta.get("parameters") or []
    if not params:
        raise ValueError("%s takes no parameters for arg_list values" % udf)
    return client.run(udf, **dict(kwargs, **{params[0]["name"]: value}))


def _param(v):
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, default=str)
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    if hasattr(v, "item") and callable(v.item):  # numpy scalars
        return v.item()
    return v


def _arg_items(arg_list):
    """A list of values, a list of dicts, or a DataFrame (one dict per row)."""
    if hasattr(arg_list, "to_dict") and hasattr(arg_list, "columns"):
        return [{k: _param(v) for k, v in row.items()} for row in arg_list.to_dict("records")]
    out = []
    for v in list(arg_list):
        out.append({k: _param(x) for k, x in v.items()} if isinstance(v, dict) else _param(v))
    return out


def _given_items(arg_list):
    """arg_list's items as the caller gave them (a DataFrame's rows as dicts):
    what a JobPool reports as each item's arguments."""
    if hasattr(arg_list, "to_dict") and hasattr(arg_list, "columns"):
        return arg_list.to_dict("records")
    return list(arg_list)


def decode(raw, content_type):
    """A result by its content type: arrays as numpy arrays, tables as
    DataFrames, features as GeoDataFrames (when those packages are there)."""
    ct = content_type.split(";")[0].strip()
    if ct == "application/x-npy":
        import numpy as np
        return np.load(io.BytesIO(raw))
    if ct == "application/geo+json":
        fc = json.loads(raw)
        try:
            import geopandas as gpd
            return gpd.GeoDataFrame.from_features(fc["features"], crs="EPSG:4326")
        except ImportError:
            return fc
    if ct == "text/csv":
        try:
            import pandas as pd
            return pd.read_csv(io.BytesIO(raw))
        except ImportError:
            return raw.decode()
    if ct == "application/json":
        v = json.loads(raw)
        if isinstance(v, list) and v and all(isinstance(r, dict) for r in v):
            try:
                import pandas as pd
                return pd.DataFrame.from_records(v)
            except ImportError:
                pass
        return v
    if ct.startswith("text/"):
        return raw.decode("utf-8", "replace")
    if ct == "image/tiff; application=geotiff" or ct.startswith("image/"):
        return raw
    return raw


class JobPool:
    """A submitted job: its status, its results in argument order, and
    collect() into one DataFrame, as Fused's JobPool."""

    def __init__(self, client, job_id, ignore_exceptions=False, flatten=True, given=None):
        self.client, self.id = client, job_id
        self._given = given  # arg_list's items as given, by index (the server keeps them as text)
        self.ignore_exceptions, self.flatten = ignore_exceptions, flatten
        self._rows = None
        self._final = False  # the rows were read once the job had ended

    def __repr__(self):
        s = self.status()
        return "<JobPool %s: %s, %d/%d done>" % (self.id, s["state"], s["ok"] + s["error"] + s["cancelled"], s["total"])

    def _status(self):
        return self.client.json("GET", "/v1/jobs/" + self.id)

    def status(self):
        """Counts of items by status (and the job's state)."""
        return self._status()

    def done(self):
        return self._status()["state"] != "running"

    def wait(self, timeout=None, progress=None):
        """Block until every item has ended; a progress line on a terminal."""
        start = time.time()
        if progress is None:
            progress = sys.stderr.isatty()
        while True:
            s = self._status()
            if progress:
                n = s["ok"] + s["error"] + s["cancelled"]
                sys.stderr.write("\r%s: %d/%d done, %d running, %d failed" % (self.id[:8], n, s["total"], s["running"], s["error"]))
                sys.stderr.flush()
            if s["state"] != "running":
                if progress:
                    sys.stderr.write("\n")
                self._rows = None
                return s
            if timeout is not None and time.time() - start > timeout:
                raise TimeoutError("job %s still running after %ss" % (self.id, timeout))
            time.sleep(0.2)

    def _fetch(self):
        if self._rows is None or not self._final:
            doc = self.client.json("GET", "/v1/jobs/%s/results" % self.id, timeout=self.client.long_timeout())
            self._rows = doc["results"]
            self._final = (doc.get("status") or {}).get("state", "running") != "running"
        return self._rows

    def _value(self, row):
        if row["status"] != "ok":
            return ServerError(row["status"], row.get("error", ""), row.get("logs", ""))
        ct = row.get("content_type") or ""
        res = row.get("result")
        if "json" in ct:
            return decode(json.dumps(res).encode(), ct)
        if ct.startswith("text/") and not ct.startswith("text/csv"):
            return res
        return decode(base64.b64decode(res) if res else b"", ct) if not ct.startswith("text/csv") else decode(res.encode(), ct)

    def results(self, return_exceptions=False):
        """Every result in argument order, once the job has ended; an error
        raises unless return_exceptions."""
        self.wait(progress=False)
        out = []
        for row in self._fetch():
            v = self._value(row)
            if isinstance(v, Exception) and not return_exceptions:
                raise v
            out.append(v)
        return out

    def errors(self):
        return {r["index"]: self._value(r) for r in self._fetch() if r["status"] == "error"}

    def first_error(self):
        errs = self.errors()
        return errs[min(errs)] if errs else None

    def logs(self):
        return [r.get("logs") or None for r in self._fetch()]

    def first_log(self):
        return next((l for l in self.logs() if l), None)

    def times(self):
        return [datetime.timedelta(seconds=r["seconds"]) if r["status"] in ("ok", "error") else None for r in self._fetch()]

    def total_time(self, since_retry=False):
        s = self._status()
        end = s.get("finished") or datetime.datetime.now(datetime.timezone.utc).isoformat()
        return _parse_time(end) - _parse_time(s["created"])

    def all_succeeded(self):
        return all(r["status"] == "ok" for r in self._fetch())

    def any_failed(self):
        return any(r["status"] == "error" for r in self._fetch())

    def any_succeeded(self):
        return any(r["status"] == "ok" for r in self._fetch())

    def cancel(self, wait=False):
        self.client.json("DELETE", "/v1/jobs/" + self.id)
        if wait:
            self.wait(progress=False)

    def retry(self):
        self.client.json("POST", "/v1/jobs/%s/retry" % self.id)
        self._rows = None

    def _args(self, row):
        """The item's arguments, as arg_list gave them when this pool
        submitted it (else as the server keeps them: text)."""
        skip = {"index", "status", "seconds", "attempts", "cache", "error", "logs", "content_type", "result"}
        args = {k: v for k, v in row.items() if k not in skip}
        i = row.get("index")
        if self._given is None or not isinstance(i, int) or not 0 <= i < len(self._given):
            return args
        given = self._given[i]
        if isinstance(given, dict):
            return {k: given.get(k, v) for k, v in args.items()}
        if len(args) == 1:  # a value of the first parameter, which the server named
            return {k: given for k in args}
        return args

    def arg_df(self):
        import pandas as pd
        return pd.DataFrame([self._args(r) for r in self._fetch()])

    def df(self, status_column="status", result_column="result", time_column="time", logs_column="logs",
           exception_column=None, include_exceptions=True):
        """A DataFrame of every item: its arguments, status, result, time and logs."""
        import pandas as pd
        rows = []
        for r in self._fetch():
            row = self._args(r)
            v = self._value(r)
            if isinstance(v, Exception) and not include_exceptions:
                continue
            if status_column:
                row[status_column] = r["status"]
            if result_column:
                row[result_column] = None if isinstance(v, Exception) else v
            if time_column:
                row[time_column] = datetime.timedelta(seconds=r["seconds"])
            if logs_column:
                row[logs_column] = r.get("logs") or ""
            if exception_column:
                row[exception_column] = v if isinstance(v, Exception) else None
            rows.append(row)
        return pd.DataFrame(rows)

    def collect(self, ignore_exceptions=None, flatten=None):
        """The results as one DataFrame: DataFrame results concatenated in
        argument order, each row with its run's arguments; other results in a
        `result` column. An error raises unless ignore_exceptions."""
        import pandas as pd
        if ignore_exceptions is None:
            ignore_exceptions = self.ignore_exceptions
        if flatten is None:
            flatten = self.flatten
        self.wait(progress=False)
        frames = []
        plain = []
        for r in self._fetch():
            v = self._value(r)
            if isinstance(v, Exception):
                if ignore_exceptions:
                    continue
                raise v
            args = self._args(r)
            if isinstance(v, pd.DataFrame) and flatten:
                f = v.copy()
                for k, a in args.items():
                    if k not in f.columns:
                        f.insert(0, k, a)
                frames.append(f)
            else:
                plain.append(dict(args, result=v))
        if frames and not plain:
            return pd.concat(frames, ignore_index=True)
        if plain and not frames:
            return pd.DataFrame(plain)
        return pd.concat(frames + [pd.DataFrame(plain)], ignore_index=True) if frames or plain else pd.DataFrame()

    collect_df = collect
    get_results_df = collect

    # Items by state, indexed by their position in arg_list, as they are now.

    def results_now(self, return_exceptions=False):
        """The results of the items ended so far; an error raises unless return_exceptions."""
        out = {}
        for r in self._fetch():
            if r["status"] in ("ok", "error"):
                v = self._value(r)
                if isinstance(v, Exception) and not return_exceptions:
                    raise v
                out[r["index"]] = v
        return out

    def success(self):
        """The results of the items that succeeded so far."""
        return {r["index"]: self._value(r) for r in self._fetch() if r["status"] == "ok"}

    def pending(self):
        """The arguments of the items not started yet."""
        return {r["index"]: self._args(r) for r in self._fetch() if r["status"] == "pending"}

    def running(self):
        """The arguments of the items running now."""
        return {r["index"]: self._args(r) for r in self._fetch() if r["status"] == "running"}

    def cancelled(self):
        """The arguments of the items cancelled before they ran."""
        return {r["index"]: self._args(r) for r in self._fetch() if r["status"] == "cancelled"}

    def get_status_df(self):
        """A DataFrame of every item now: its arguments, status and time."""
        return self.df(result_column=None, logs_column=None)

    def tail(self, stop_on_exception=False):
        """Wait until every item has ended, printing each as it ends (index,
        status, time, error); stop_on_exception raises the first error."""
        shown = set()
        while True:
            ended = self.done()  # before reading the rows: the last read then sees every item
            for r in self._fetch():
                if r["index"] in shown or r["status"] in ("pending", "running"):
                    continue
                shown.add(r["index"])
                line = "[%d] %s in %.2fs" % (r["index"], r["status"], r.get("seconds") or 0)
                err = (r.get("error") or "").strip()
                if r["status"] == "error" and err:
                    line += ": " + err.splitlines()[-1]  # a traceback's last line names the exception
                print(line, flush=True)
                if stop_on_exception and r["status"] == "error":
                    raise self._value(r)
            if ended:
                return
            time.sleep(0.2)


def _parse_time(s):
    s = s.replace("Z", "+00:00")
    if "." in s:  # Go writes nanoseconds; Python reads microseconds
        head, tail = s.split(".", 1)
        frac = "".join(ch for ch in tail if ch.isdigit())
        zone = tail[len(frac):]
        s = "%s.%s%s" % (head, frac[:6], zone)
    return datetime.datetime.fromisoformat(s)
