import io
import os
import zipfile

import fused


def _error(fn):
    try:
        fn()
    except Exception as e:  # the test reads the message
        return "%s: %s" % (type(e).__name__, e)
    return None


def _pickles(root):
    return sum(1 for _, _, files in os.walk(root) for f in files if f.endswith(".pkl"))


@fused.udf
def udf(work: str = "", saved: str = "", first: str = ""):
    out = {}
    src = fused.load(os.path.join(saved, "Greeter"))
    out["src"] = {"name": src.name, "call": src(), "run": fused.run(src), "params": src.default_parameters,
                  "meta": dict(src.metadata), "max_age": src.cache_max_age, "code_has_udf": "def udf(" in src.code}

    # @fused.cache entries of the UDF's file, then delete_cache
    cache_root = os.path.join(fused._host.CONFIG["cache_dir"], "fused-cache")
    out["pickles_before"] = _pickles(cache_root)
    out["deleted_folders"] = src.delete_cache()
    out["pickles_after"] = _pickles(cache_root)

    # to_directory and back
    src.metadata["my_company:tags"] = ["tag_1", "tag_2"]
    d = src.to_directory(os.path.join(work, "Saved"))
    out["dir_files"] = sorted(os.listdir(d))
    again = fused.load(d)
    out["dir"] = {"name": again.name, "call": again(who="dir"), "meta": again.metadata,
                  "same_code": again.code == src.code}
    out["dir_exists"] = _error(lambda: src.to_directory(d))
    src.to_directory(d, overwrite=True)

    # to_file (.zip), to a path and to a file object, and back
    z = src.to_file(os.path.join(work, "Greeter.zip"))
    out["zip_names"] = sorted(zipfile.ZipFile(z).namelist())
    zu = fused.load(z)
    out["zip"] = {"name": zu.name, "call": zu(who="zip"), "meta": zu.metadata}
    buf = io.BytesIO()
    src.to_file(buf)
    out["zip_buffer_same"] = sorted(zipfile.ZipFile(io.BytesIO(buf.getvalue())).namelist()) == out["zip_names"]
    bad = os.path.join(work, "bad.zip")
    with open(bad, "wb") as f:
        f.write(b"not a zip")
    out["bad_zip"] = _error(lambda: fused.load(bad))
    evil = os.path.join(work, "evil.zip")
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../escape.py", "x = 1\n")
    out["evil_zip"] = _error(lambda: fused.load(evil))

    # the UDF's code itself
    out["raw"] = fused.load("@fused.udf\ndef udf(n: int = 2):\n    return n * 21\n")()

    # GitHub URLs, read from the local checkout at the URL's ref
    base = "https://github.com/acme/udfs"
    out["git_first"] = fused.load(base + "/tree/%s/public/Answer/" % first)()
    out["git_main"] = fused.load(base + "/tree/main/public/Answer")()
    out["git_blob"] = fused.load(base + "/blob/main/public/Answer/Answer.py")()
    out["git_unknown_repo"] = _error(lambda: fused.load("https://github.com/other/repo/tree/main/x"))
    out["git_unknown_ref"] = _error(lambda: fused.load(base + "/tree/no-such-branch/public/Answer"))
    out["git_unknown_path"] = _error(lambda: fused.load(base + "/tree/main/public/Nothing"))

    # decorator options: unknown ones and missing headers fail at load, naming them
    out["unknown_option"] = _error(lambda: fused.load("@fused.udf(headrs=['x.py'])\ndef udf():\n    return 1\n"))
    out["missing_header"] = _error(lambda: fused.load("@fused.udf(headers=['nowhere.py'])\ndef udf():\n    return 1\n"))
    out["unknown_cache_option"] = _error(lambda: fused.cache(colour="red")(lambda: 1))
    out["missing"] = _error(lambda: fused.load(os.path.join(work, "no-such-udf")))
    return out
