"""udftiles.options: Fused's fused.options for the client.

base_url is the server (default UDFTILES_URL, else http://127.0.0.1:8080; a
Fused-style ".../server/v1" ending is the server itself); request_timeout
bounds each request to it, run_timeout each run (udftiles.run of a layer or
a shared token); max_workers is how many items of a local submit, and runs
of sync=False, go at once. The other settings of Fused's library are kept
and ignored. save() writes them to ~/.udftiles/settings.json (or
UDFTILES_SETTINGS), read again when udftiles is next imported;
UDFTILES_URL, when set, still names the server.
"""
import json
import os
import re

from . import _jobs

DEFAULT_URL = "http://127.0.0.1:8080"


def settings_path():
    return os.environ.get("UDFTILES_SETTINGS") or os.path.join(os.path.expanduser("~"), ".udftiles", "settings.json")


class Settings:
    """A group of settings (options.auth, options.show): any attribute may be
    set, and is kept."""

    def __init__(self, **values):
        self.__dict__.update(values)

    def __repr__(self):
        return "(%s)" % ", ".join("%s=%r" % kv for kv in sorted(vars(self).items()))


class Options:
    """Fused's fused.options, for the client (see the module's doc)."""

    _DEFAULTS = dict(
        base_url=DEFAULT_URL,
        request_timeout=5,
        run_timeout=130,
        max_workers=16,
        request_max_retries=5,
        request_retry_base_delay=1.0,
        max_recursion_factor=5,
        default_udf_run_engine=None,
        default_dtype_out_vector="parquet",
        default_dtype_out_raster="npy,tiff",
        cache_directory=None,
        temp_directory="/tmp",
        verbose_udf_runs=True,
        never_import=False,
    )

    def __init__(self):
        self.__dict__.update(self._DEFAULTS)
        self.auth = Settings(client_id=None, client_secret=None, audience=None, oauth_token_url=None,
                             authorize_url=None)
        self.show = Settings(enable_tqdm=True)
        try:
            with open(settings_path()) as f:
                saved = json.load(f)
        except (OSError, ValueError):
            saved = {}
        for k, v in saved.items():
            if k in ("auth", "show") and isinstance(v, dict):
                getattr(self, k).__dict__.update(v)
            elif not k.startswith("_"):
                setattr(self, k, v)
        if os.environ.get("UDFTILES_URL"):
            self.base_url = os.environ["UDFTILES_URL"]

    def __repr__(self):
        return "udftiles.options(%s)" % ", ".join("%s=%r" % kv for kv in sorted(vars(self).items()))

    def __dir__(self):
        return sorted(vars(self))

    def save(self):
        """Write the settings to ~/.udftiles/settings.json (UDFTILES_SETTINGS),
        read again when udftiles is next imported."""
        doc = {k: (vars(v) if isinstance(v, Settings) else v) for k, v in vars(self).items()}
        path = settings_path()
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        tmp = path + ".%d.tmp" % os.getpid()
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=2, sort_keys=True, default=str)
        os.chmod(tmp, 0o600)  # it may hold credentials (auth)
        os.replace(tmp, path)


options = Options()


def seconds(timeout):
    """A timeout as options holds it (seconds, a (connect, read) pair, or
    None) as one number of seconds for urllib, or None for no bound."""
    if isinstance(timeout, (tuple, list)):
        parts = [float(t) for t in timeout if t is not None]
        return max(parts) if parts else None
    return None if timeout is None else float(timeout)


def server_url(url=None):
    """The server's base URL: url, else options.base_url."""
    u = str(url or options.base_url or DEFAULT_URL).rstrip("/")
    return re.sub(r"/server/v1$", "", u)


def client(url=None, token=None):
    """A client of the server: url and token, else options.base_url and
    UDFTILES_TOKEN, with the options' timeouts."""
    return _jobs.Client(server_url(url), token, timeout=seconds(options.request_timeout),
                        run_timeout=seconds(options.run_timeout))
