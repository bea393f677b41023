"""The server's catalog from Python, with Fused's SDK calls: udf.to_fused()
saves a UDF's code on the server, udftiles.load() loads a saved UDF (or a
local file or code), and a saved UDF's versions, share tokens and deletion.

    @fused.udf
    def udf(n: int = 2):
        return {"n": n}

    udf.to_fused("squares")                      # version 1 (editor or admin token)
    fused.run("squares", n=3)                    # runs on the server
    u = fused.load("squares")                    # u.code, u.version, u.versions(), u.restore(1)
    tok = u.create_access_token()                # tok.token: "fsh_...", tok.urls["file"]
    fused.run(tok.token, n=4)                    # no bearer token needed
    [t.delete() for t in u.get_access_tokens()]  # revoked
    fused.delete("squares")
"""
import ast
import builtins
import inspect
import linecache
import os
import sys
import textwrap
import urllib.parse
import warnings

from . import _jobs, _options
from ._local import UDF, as_udf

_UNSET = object()


def _q(name):
    return urllib.parse.quote(str(name), safe="")


def _client(client=None, url=None, token=None):
    """The server: client if given, else Client(url, token) (UDFTILES_URL, UDFTILES_TOKEN)."""
    if client is not None:
        return client
    return _options.client(url, token)


def _is_code(s):
    """Whether a string is Python code rather than a name or a path."""
    return "\n" in s or s.lstrip().startswith(("@", "def ", "import ", "from ", "async def "))


# ---- the code a save sends ----

def _resolve(node, scope):
    """The object a decorator expression (a name or a dotted name) stands for
    in scope, or None."""
    if isinstance(node, ast.Name):
        return scope.get(node.id, getattr(builtins, node.id, None))
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, scope)
        return getattr(base, node.attr, None) if base is not None else None
    return None


def _is_udf_decorator(node, scope):
    """Whether a decorator is @udftiles.udf (or @fused.udf), whatever its
    alias, with or without arguments."""
    target = node.func if isinstance(node, ast.Call) else node
    obj = _resolve(target, scope)
    if obj is not None:
        from . import _local
        if obj is _local.udf:
            return True
    if isinstance(target, ast.Attribute):
        return target.attr == "udf"
    return isinstance(target, ast.Name) and target.id == "udf"


def _offset(lines, lineno, col):
    """The character offset of (lineno, col) in the text of lines; col counts
    UTF-8 bytes, as ast's do."""
    line = lines[lineno - 1]
    return sum(len(x) for x in lines[:lineno - 1]) + len(line.encode("utf-8")[:col].decode("utf-8", "ignore"))


def _module_name(mod):
    """How the server imports a module: udftiles (and its modules) is fused there."""
    name = mod.__name__
    if name == __package__ or name.startswith(__package__ + "."):
        return "fused" + name[len(__package__):]
    return name


def _decorator_args(u):
    """@fused.udf's arguments for a UDF made without the decorator."""
    args = []
    if u.name != u.fn.__name__:
        args.append("name=%r" % u.name)
    if u.cache_max_age is not None:
        args.append("cache_max_age=%r" % u.cache_max_age)
    if u.default_parameters:
        args.append("default_parameters=%r" % (u.default_parameters,))
    return "(%s)" % ", ".join(args) if args else ""


def udf_code(u):
    """The code a save sends for a UDF object: its file's code when it was
    loaded from one (or from code text); else `import fused`, the modules of
    the notebook the function uses, and the function's source, dedented, its
    decorator written @fused.udf(...) with its arguments."""
    code = getattr(u, "_code", None)
    if code:
        return code
    fn = u.fn
    what = getattr(fn, "__qualname__", getattr(fn, "__name__", repr(fn)))
    if getattr(fn, "__name__", "") == "<lambda>":
        raise ValueError("to_fused(%s): a lambda cannot be saved: define the UDF with def" % u.name)
    try:
        src = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as e:
        raise ValueError("to_fused(%s): the source of %s is not available (%s): define the UDF in a file or a "
                         "notebook cell, or save its code itself with udftiles.save(code, name)" % (u.name, what, e)) from None
    try:
        tree = ast.parse(src)
    except SyntaxError as e:
        raise ValueError("to_fused(%s): the source Python gives for %s does not parse: %s" % (u.name, what, e)) from None
    node = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    if node is None:
        raise ValueError("to_fused(%s): no function definition in the source of %s" % (u.name, what))
    scope = getattr(fn, "__globals__", {})
    lines = src.splitlines(keepends=True)
    edits = []  # (start, end, text), applied from the end
    rewritten = set()  # the nodes of the decorator written fused.udf
    for d in node.decorator_list:
        if _is_udf_decorator(d, scope):
            target = d.func if isinstance(d, ast.Call) else d
            edits.append((_offset(lines, target.lineno, target.col_offset),
                          _offset(lines, target.end_lineno, target.end_col_offset), "fused.udf"))
            rewritten = {id(n) for n in ast.walk(target)}
            break
    else:
        at = _offset(lines, node.lineno, 0)
        edits.append((at, at, "@fused.udf%s\n" % _decorator_args(u)))
    for start, end, text in sorted(edits, reverse=True):
        src = src[:start] + text + src[end:]

    # The notebook's modules the function names become imports; other names
    # of the notebook it uses are not carried: a warning lists them.
    loads, bound = set(), set()
    for n in ast.walk(node):
        if id(n) in rewritten:
            continue
        if isinstance(n, ast.Name):
            (loads if isinstance(n.ctx, ast.Load) else bound).add(n.id)
        elif isinstance(n, ast.arg):
            bound.add(n.arg)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n is not node:
            bound.add(n.name)
        elif isinstance(n, ast.alias):
            bound.add((n.asname or n.name).split(".")[0])
        elif isinstance(n, ast.ExceptHandler) and n.name:
            bound.add(n.name)
    imports, missing = [], []
    for name in sorted(loads - bound):
        if name not in scope or hasattr(builtins, name):
            continue
        value = scope[name]
        if isinstance(value, type(sys)):
            mod = _module_name(value)
            if mod == "fused" and name == "fused":
                continue
            imports.append("import %s" % mod if mod == name else "import %s as %s" % (mod, name))
        else:
            missing.append(name)
    if missing:
        warnings.warn("to_fused(%s): the UDF uses %s of this notebook, which the server will not have: define or "
                      "import them inside the function" % (u.name, ", ".join(missing)), stacklevel=3)
    return "\n".join(["import fused"] + imports) + "\n\n\n" + src


# ---- saving ----

def _carry_meta(client, name, given):
    """The metadata of a save: the fields given, the others as the saved UDF
    has them (when it exists and this caller may read it)."""
    meta = {k: v for k, v in given.items() if v is not None}
    if len(meta) == len(given):
        return meta
    try:
        vs = client.json("GET", "/v1/udfs/%s/versions" % _q(name)).get("versions") or []
    except _jobs.ServerError:
        return meta
    old = (vs[0].get("meta") if vs else None) or {}
    for k in given:
        if k not in meta and old.get(k) not in (None, "", [], {}):
            meta[k] = old[k]
    return meta


def _save_error(e):
    """A refused save as a ServerError whose message names the cause (a
    traceback's last line, "SyntaxError: ...") and whose logs hold the
    traceback, whether the server sent it in logs or in its message."""
    msg, logs = e.message or "", e.logs or ""
    if e.status == 400 and not logs and "Traceback (most recent call last)" in msg:
        head, _, tb = msg.partition("Traceback (most recent call last)")
        msg, logs = head.strip(), "Traceback (most recent call last)" + tb
    last = [x.strip() for x in logs.strip().splitlines() if x.strip()]
    if e.status == 400 and last and last[-1] not in msg:
        msg = "%s %s" % (msg, last[-1]) if msg else last[-1]
    return _jobs.ServerError(e.status, msg, logs)


def save_code(code, name, overwrite=True, *, description=None, public=None, cache_max_age=None, parameters=None,
              bounds=None, min_zoom=None, max_zoom=None, client=None, url=None, token=None):
    """Save code as the next version of UDF name (PUT /v1/udfs/{name}) and
    return what the server answers: {"name", "version", "code_hash",
    "owner", "source"}. Fields left None keep the saved UDF's."""
    if not name:
        raise ValueError("save: a name is needed")
    c = _client(client, url, token)
    if not overwrite:
        try:
            info = c.json("GET", "/v1/udfs/%s" % _q(name))
        except _jobs.ServerError:
            info = None  # not there (404), or not ours to read: the save says
        if info is not None:
            raise _jobs.ServerError(409, "UDF %s exists (%s, version %s, owner %s): pass overwrite=True to save a new "
                                    "version" % (name, info.get("source") or "config", info.get("version") or "-",
                                                 info.get("owner") or "-"))
    given = dict(description=description, public=public, cache_max_age=cache_max_age, parameters=parameters,
                 bounds=list(bounds) if bounds is not None else None, min_zoom=min_zoom, max_zoom=max_zoom)
    if given["cache_max_age"] is not None:
        given["cache_max_age"] = str(given["cache_max_age"])
    if given["parameters"] is not None:
        given["parameters"] = dict(given["parameters"])
    body = dict(_carry_meta(c, name, given), code=code)
    try:
        return c.json("PUT", "/v1/udfs/%s" % _q(name), body=body, timeout=c.long_timeout())
    except _jobs.ServerError as e:
        raise _save_error(e) from None


def to_fused(u, name=None, overwrite=True, **kw):
    """Save a local UDF on the server (its to_fused); the UDF learns its
    saved name, version, code hash and owner, and is returned."""
    if isinstance(name, bool):  # Fused's to_fused(overwrite)
        name, overwrite = None, name
    name = name or u.name
    client = _client(kw.pop("client", None), kw.pop("url", None), kw.pop("token", None))
    got = save_code(udf_code(u), name, overwrite, client=client, **kw)
    u._catalog = (got.get("name") or name, client)
    u.version, u.code_hash, u.owner = got.get("version"), got.get("code_hash"), got.get("owner")
    return u


def save(udf, name=None, overwrite=True, **kw):
    """Save a UDF on the server, as udf.to_fused(name) does: a UDF object or
    a function, a saved UDF (by object or name: copied under name), a .py
    file, or code itself (name needed). Returns the local UDF (with
    .version), or the server's UDF for code and saved UDFs."""
    if isinstance(udf, (str, os.PathLike)):
        s = os.fspath(udf)
        if _is_code(s):
            if not name:
                raise ValueError("save(code): pass name=")
            c = _client(kw.pop("client", None), kw.pop("url", None), kw.pop("token", None))
            got = save_code(s, name, overwrite, client=c, **kw)
            return RemoteUDF(got.get("name") or name, client=c)
        udf = load(s, client=kw.get("client"), url=kw.get("url"), token=kw.get("token"))
    if isinstance(udf, RemoteUDF):
        return udf.to_fused(name, overwrite, **kw)
    if not callable(udf):
        raise TypeError("save: want a UDF, a function, a .py file or code, got %r" % (udf,))
    return to_fused(as_udf(udf), name, overwrite, **kw)


def delete(name, *, client=None, url=None, token=None):
    """Delete a saved UDF with its versions and share tokens (the owner's or
    an admin's token). True when deleted."""
    if isinstance(name, RemoteUDF):
        return name.delete()
    if isinstance(name, UDF):
        return _saved_of(name, "delete").delete()
    name = str(name).rsplit("/", 1)[-1]
    _client(client, url, token).request("DELETE", "/v1/udfs/%s" % _q(name))
    return True


def _saved_of(u, what):
    """The server's copy of a local UDF saved with to_fused."""
    saved = getattr(u, "_catalog", None)
    if not saved:
        raise ValueError("%s: UDF %s is not saved on a server: save it first with .to_fused()" % (what, u.name))
    return RemoteUDF(saved[0], client=saved[1])


# ---- share tokens ----

class AccessToken:
    """A share token of a saved UDF (Fused's UdfAccessToken): .token is the
    "fsh_..." string (only when just made: the server keeps its hash), .urls
    its routes ("tiles", "file"); id, udf, prefix, owner, created_at,
    enabled, cache, public_read, expires_at, revoked_at as the server lists
    them. fused.run(tok) and fused.run(tok.token) run the UDF with it."""

    def __init__(self, doc, client):
        self._doc = dict(doc)
        self.client = client
        self.id = doc.get("id")
        self.udf = doc.get("udf")
        self.prefix = doc.get("prefix")
        self.owner = doc.get("owner")
        self.created_at = doc.get("created_at")
        self.expires_at = doc.get("expires_at")
        self.revoked_at = doc.get("revoked_at")
        self.enabled = doc.get("enabled")
        self.cache = doc.get("cache")
        self.public_read = doc.get("public_read")
        self.token = doc.get("token")
        self.urls = dict(doc.get("urls") or {})

    def __str__(self):
        return self.token or (self.prefix or "") + "..."

    def __repr__(self):
        state = "revoked" if self.revoked_at else ("enabled" if self.enabled else "disabled")
        return "<AccessToken %s... of %s (%s)>" % (self.prefix or (self.token or "")[:8], self.udf, state)

    def __eq__(self, other):
        return isinstance(other, AccessToken) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def to_dict(self):
        return dict(self._doc)

    def _base(self):
        if not self.token:
            raise ValueError("token %s: its plain token is only shown when it is made" % self.id)
        return "%s/server/v1/realtime-shared/%s" % (self.client.url, self.token)

    def get_file_url(self, format=None, **params):
        """The URL of a file-mode run with this token (no bearer needed)."""
        u = self.urls.get("file") or self._base() + "/run/file"
        if format is not None:
            params["format"] = format
        return u + ("?" + urllib.parse.urlencode({k: _jobs._param(v) for k, v in params.items()}) if params else "")

    def get_tile_url(self, format=None, **params):
        """The tile URL template ({z}/{x}/{y}) of this token."""
        u = self.urls.get("tiles") or self._base() + "/run/tiles/{z}/{x}/{y}"
        if format is not None:
            params["format"] = format
        return u + ("?" + urllib.parse.urlencode({k: _jobs._param(v) for k, v in params.items()}) if params else "")

    def delete(self):
        """Revoke the token: its routes answer 404 within a second, on every replica."""
        self.client.request("DELETE", "/v1/udfs/%s/tokens/%s" % (_q(self.udf), _q(self.id)))
        return True

    revoke = delete


# ---- a UDF of the server ----

class RemoteUDF:
    """A UDF of the server, from udftiles.load(name) or load("fsh_..."):
    called (or passed to udftiles.run/submit) it runs on the server. name,
    metadata (GET /v1/udfs/{name}), version, owner and source ("catalog" or
    "config"); code, the saved code (None for config layers and shared
    tokens); versions(), restore(n), create_access_token(),
    get_access_tokens(), delete() and to_fused(new_name) for a saved UDF."""

    engine = "remote"

    def __init__(self, name=None, token=None, client=None, info=None):
        self.token = token
        self.name = name or (token[:12] + "..." if token else "shared")
        self.client = client if client is not None else _options.client()
        self._info = info
        self._code = _UNSET

    def __repr__(self):
        if self.token:
            return "<UDF shared by token %s... on %s>" % (self.token[:12], self.client.url)
        v = " v%s" % self.version if self.version else ""
        return "<UDF %s%s (%s, on %s)>" % (self.name, v, self.source or "remote", self.client.url)

    def __call__(self, *args, **kwargs):
        from ._run import run
        return run(self, *args, **kwargs)

    def refresh(self):
        """Read the UDF's description again (after a save or restore elsewhere)."""
        self._code = _UNSET
        self._info = None
        if not self.token:
            self._info = self.client.json("GET", "/v1/udfs/%s" % _q(self.name))
        return self

    @property
    def metadata(self):
        if self._info is None and not self.token:
            self.refresh()
        return dict(self._info or {})

    @property
    def version(self):
        return self.metadata.get("version")

    @property
    def owner(self):
        return self.metadata.get("owner")

    @property
    def source(self):
        return self.metadata.get("source")

    @property
    def parameters(self):
        return self.metadata.get("parameters") or []

    @property
    def code(self):
        """The saved code (of the version loaded), fetched once; None when the
        server does not serve it (a config layer, a shared token)."""
        if self._code is _UNSET:
            if self.token or self.source != "catalog":
                self._code = None
            else:
                params = {"version": self.version} if self.version else None
                try:
                    _, _, raw = self.client.request("GET", "/v1/udfs/%s/code" % _q(self.name), params)
                    self._code = raw.decode("utf-8")
                except _jobs.ServerError as e:
                    if e.status != 404:
                        raise
                    self._code = None
        return self._code

    def _saved(self, what):
        if self.token:
            raise ValueError("%s: a UDF loaded by share token has no name here: load it by name" % what)
        return self.name

    def versions(self):
        """The saved versions, newest first: dicts of version, code_hash,
        author, created_at and meta."""
        doc = self.client.json("GET", "/v1/udfs/%s/versions" % _q(self._saved("versions")))
        return doc.get("versions") or []

    def get_code(self, version=None):
        """The code of a version (the newest by default)."""
        params = {"version": int(version)} if version is not None else None
        _, _, raw = self.client.request("GET", "/v1/udfs/%s/code" % _q(self._saved("get_code")), params)
        return raw.decode("utf-8")

    def restore(self, version):
        """Save version n again as the newest; returns this UDF, now at the new version."""
        self.client.json("POST", "/v1/udfs/%s/versions/%d/restore" % (_q(self._saved("restore")), int(version)),
                         timeout=self.client.long_timeout())
        return self.refresh()

    def to_fused(self, name=None, overwrite=True, **kw):
        """Save this UDF's code (with its metadata, unless given) under name:
        a new version of it, or a copy under another name."""
        if isinstance(name, bool):
            name, overwrite = None, name
        name = name or self._saved("to_fused")
        code = self.code
        if code is None:
            raise ValueError("to_fused: the code of %s is not served (a config layer or a shared token)" % self.name)
        if name != self.name:
            meta = (self.versions() or [{}])[0].get("meta") or {}
            for k in ("description", "public", "cache_max_age", "parameters", "bounds", "min_zoom", "max_zoom"):
                if kw.get(k) is None and k in meta:
                    kw[k] = meta[k]
        client, url, token = kw.pop("client", None), kw.pop("url", None), kw.pop("token", None)
        client = self.client if client is None and url is None and token is None else _client(client, url, token)
        got = save_code(code, name, overwrite, client=client, **kw)
        if name == self.name and client is self.client:
            return self.refresh()
        return RemoteUDF(got.get("name") or name, client=client)

    def create_access_token(self, *, client_id=None, public_read=None, access_scope=None, cache=True,
                            metadata_json=None, enabled=True, expires_in=None, expires_at=None):
        """Make a share token ("fsh_...") anyone may run this UDF with, as
        Fused's create_access_token: cache=False makes its runs skip the
        caches, enabled=False makes it unusable, expires_in="7d" or
        expires_at (RFC 3339) ends it. Returns an AccessToken (.token, .urls);
        the plain token is shown this once."""
        ignored = [k for k, v in (("client_id", client_id), ("access_scope", access_scope),
                                  ("metadata_json", metadata_json)) if v is not None]
        if ignored:
            warnings.warn("create_access_token: %s ignored: a udftiles share token runs the UDF on this server for "
                          "anyone holding it" % ", ".join(ignored), stacklevel=2)
        body = {"enabled": bool(enabled), "cache": bool(cache)}
        if public_read is not None:
            body["public_read"] = bool(public_read)
        if expires_in is not None:
            body["expires_in"] = str(expires_in)
        if expires_at is not None:
            body["expires_at"] = expires_at.isoformat() if hasattr(expires_at, "isoformat") else str(expires_at)
        doc = self.client.json("POST", "/v1/udfs/%s/tokens" % _q(self._saved("create_access_token")), body=body)
        return AccessToken(doc, self.client)

    def get_access_tokens(self):
        """The UDF's share tokens (without the tokens themselves), as AccessToken objects."""
        doc = self.client.json("GET", "/v1/udfs/%s/tokens" % _q(self._saved("get_access_tokens")))
        return [AccessToken(t, self.client) for t in doc.get("tokens") or []]

    def delete(self):
        """Delete the saved UDF, its versions and share tokens."""
        self.client.request("DELETE", "/v1/udfs/%s" % _q(self._saved("delete")))
        self._info, self._code = {}, None
        return True

    def delete_saved(self, inplace=True):
        """Fused's name for delete()."""
        return self.delete()


# ---- loading ----

def _fused_builtins():
    """Builtins whose `import fused` (and `from fused import ...`) gives this package."""
    pkg = sys.modules[__package__]
    real = builtins.__import__

    def imp(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and (name == "fused" or name.startswith("fused.")):
            mod = pkg
            for part in name.split(".")[1:]:
                if not hasattr(mod, part):
                    raise ImportError("No module named %r: udftiles (imported as fused) has no %s" % (name, part))
                mod = getattr(mod, part)
            return mod if fromlist else pkg
        return real(name, globals, locals, fromlist, level)
    b = dict(builtins.__dict__)
    b["__import__"] = imp
    return b


def load_local(code, path=None, name=None):
    """A local UDF from code (a file's text): run with `fused` bound to this
    package, its @fused.udf function (the one named udf when there are
    several, else the first, as the server picks) is the UDF, named as its decorator says, else after its file."""
    where = os.path.abspath(path) if path else "<udftiles.load %x>" % (hash(code) & 0xffffffff)
    if not path:
        linecache.cache[where] = (len(code), None, code.splitlines(True), where)  # inspect and tracebacks read it
    mod = "udftiles_loaded_" + "".join(ch if ch.isalnum() else "_" for ch in (name or "udf"))
    g = {"__name__": mod, "__file__": where, "__builtins__": _fused_builtins(), "fused": sys.modules[__package__]}
    exec(compile(code, where, "exec"), g)
    udfs = [v for k, v in g.items() if isinstance(v, UDF) and not k.startswith("__")]
    if not udfs:
        raise ValueError("udftiles.load(%s): no @fused.udf function in it" % (path or "code"))
    # The one the server would serve: the function named udf, else the first.
    u = next((x for x in udfs if x.fn.__name__ == "udf"), udfs[0])
    if u.name == u.fn.__name__ and name:
        u.name = name
    u._code, u.path = code, path
    return u


def load(url_or_udf, /, *, cache_key=None, import_globals=True, client=None, url=None, token=None):
    """Load a UDF, as Fused's fused.load does:

    - a name of the server ("owner/name" too: the last part) → a UDF that runs
      there (udftiles.run or calling it), with its code when it is saved in
      the catalog, and its versions and share tokens;
    - a share token "fsh_..." → a UDF that runs with it;
    - a .py file, a folder holding <folder>.py, or the code itself → a local
      UDF (engine="local"), run with `fused` bound to this package.

    GitHub URLs are not fetched: check the repository out and load the file.
    """
    if isinstance(url_or_udf, (UDF, RemoteUDF)):
        return url_or_udf
    if isinstance(url_or_udf, AccessToken):
        url_or_udf = url_or_udf.token
    p = os.fspath(url_or_udf) if isinstance(url_or_udf, os.PathLike) else url_or_udf
    if not isinstance(p, str) or not p.strip():
        raise TypeError("udftiles.load: want a name, a share token, a path or code, got %r" % (url_or_udf,))
    if _is_code(p):
        return load_local(p)
    if p.startswith(("http://", "https://", "s3://", "gs://")):
        raise ValueError("udftiles.load(%r): URLs are not fetched; load a UDF of the server by name, a share token, "
                         "a local .py file or the code itself" % p)
    if os.path.isdir(p):
        base = os.path.basename(os.path.normpath(p))
        f = os.path.join(p, base + ".py")
        if not os.path.isfile(f):
            raise ValueError("udftiles.load(%r): a UDF folder holds %s.py" % (p, base))
        p = f
    if os.path.isfile(p) or p.endswith(".py"):
        with open(p, encoding="utf-8") as fh:
            return load_local(fh.read(), p, os.path.splitext(os.path.basename(p))[0])
    c = _client(client, url, token)
    if p.startswith("fsh_"):
        return RemoteUDF(token=p, client=c)
    name = p.rsplit("/", 1)[-1]
    return RemoteUDF(name, client=c).refresh()
