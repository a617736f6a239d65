"""Getting released weights onto the machine: a cache, verified downloads, mirrors and offline use.

Where a file comes from, in order:

1. the cache, ``$TUBELET_HOME/weights/<file name>`` (default ``~/.cache/tubelet``, or ``$XDG_CACHE_HOME/tubelet``):
   a file put there by hand is found too (the way to use Google-Drive-only weights);
2. ``TUBELET_WEIGHTS_MIRROR``: a local folder (the file is used in place) or an HTTP base URL (the file is downloaded
   from ``<mirror>/<file name>``), for clusters without internet. With a mirror set, nothing else is contacted;
3. the Hugging Face hub through ``huggingface_hub`` when it is installed (``pip install tubelet[hub]``): its cache,
   ``HF_HUB_OFFLINE``, ``HF_ENDPOINT`` and token are honoured; without it, hub files are plain HTTPS downloads from
   ``$HF_ENDPOINT`` (default https://huggingface.co) into tubelet's cache;
4. plain HTTPS (download.openmmlab.com, GitHub releases, download.pytorch.org, OpenAI).

Downloads are written to ``<file>.part`` (resumed with an HTTP Range request when a previous transfer was cut),
fsynced, hash-checked and only then renamed into place; a file whose hash does not match is deleted. Concurrent
processes (e.g. DDP ranks) take a file lock, so one downloads and the others wait. Files without a published hash get
their sha256 recorded in the cache on first download (``<file>.sha256``) and are checked against it on every later
load. ``TUBELET_OFFLINE=1`` (or ``HF_HUB_OFFLINE=1``) never touches the network: a missing file is an error naming
its URL and the exact path to put it at. Socket timeout: ``TUBELET_DOWNLOAD_TIMEOUT`` seconds (default 60).

A download that fails says the same (the URL, the path in the cache, ``TUBELET_WEIGHTS_MIRROR`` and
``TUBELET_OFFLINE``), whatever the source. A host whose name does not resolve, or that refuses the connection, fails
at the first attempt: there is no retry (huggingface_hub's own retries, ~25 s, are skipped by one test connection
first). The advice names ``create_model(..., checkpoint_path=FILE)``, or ``--pretrained TAG --checkpoint FILE`` inside
:func:`command_line_advice` (the ``tubelet`` command).
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import http.client
import json
import os
import pickletools
import socket
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from .errors import CheckpointError, UsageError

__all__ = ["home", "weights_dir", "is_offline", "fetch", "cached_path", "sha256sum", "command_line_advice"]

_CHUNK = 1 << 20

#: a :class:`tubelet.models.Weights` entry and one of its download sources: the hub only reads their fields, so it
#: imports nothing of tubelet.models (which calls the hub to fetch files)
Weights = Any
Source = Any

#: the advice of an error names the command line's options instead of create_model's (see command_line_advice)
_COMMAND_LINE: contextvars.ContextVar[bool] = contextvars.ContextVar("tubelet_hub_command_line", default=False)


@contextlib.contextmanager
def command_line_advice(on: bool = True):
    """Within the block, the errors of a missing or failed download say how to pass the file on the command line
    (``--pretrained TAG --checkpoint FILE``) instead of in Python (``create_model(..., checkpoint_path=FILE)``).
    The ``tubelet`` command runs every command inside it; the setting ends with the block, so a notebook that calls
    the command's ``main`` and then :func:`tubelet.create_model` gets the Python advice again."""
    token = _COMMAND_LINE.set(on)
    try:
        yield
    finally:
        _COMMAND_LINE.reset(token)


def home() -> Path:
    """tubelet's cache folder: ``$TUBELET_HOME``, else ``$XDG_CACHE_HOME/tubelet``, else ``~/.cache/tubelet``."""
    if os.environ.get("TUBELET_HOME"):
        return Path(os.environ["TUBELET_HOME"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tubelet"


def weights_dir() -> Path:
    return home() / "weights"


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def is_offline() -> bool:
    """``TUBELET_OFFLINE`` or ``HF_HUB_OFFLINE`` is set: never use the network."""
    return _truthy("TUBELET_OFFLINE") or _truthy("HF_HUB_OFFLINE")


def _timeout() -> float:
    try:
        return float(os.environ.get("TUBELET_DOWNLOAD_TIMEOUT", "60"))
    except ValueError:
        raise UsageError(f"TUBELET_DOWNLOAD_TIMEOUT={os.environ['TUBELET_DOWNLOAD_TIMEOUT']!r} is not a number of "
                         f"seconds") from None


def sha256sum(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def cached_path(w: Weights) -> Path:
    """Where the cache keeps (or expects) the file of ``w``."""
    return weights_dir() / w.local_name


def _mirror() -> str:
    return os.environ.get("TUBELET_WEIGHTS_MIRROR", "").strip()


def _mirror_folder() -> Path | None:
    """``TUBELET_WEIGHTS_MIRROR`` when it names a folder (not an HTTP base URL)."""
    mirror = _mirror()
    return Path(mirror).expanduser() if mirror and not mirror.startswith(("http://", "https://")) else None


def _record_path(w: Weights) -> Path:
    return weights_dir() / f"{w.local_name}.sha256"


def _where(w: Weights) -> str:
    src = w.downloads[0].url if w.downloads else (w.pages[0].url if w.pages else w.sources[0].url)
    return src


def verify(path: str | os.PathLike, w: Weights, fresh: bool = False, record: bool = True) -> str:
    """Check ``path`` against the published hash of ``w`` (full or prefix), else against the hash recorded at its
    first download (recording it when there is none yet and ``record``). Returns the file's sha256.

    Raises:
        CheckpointError: the hashes differ (a fresh download is deleted first).
    """
    path, record_new = Path(path), record
    digest = sha256sum(path)
    expected, what = w.sha256, "published sha256"
    if expected is None and w.sha256_prefix:
        expected, what = w.sha256_prefix, "published sha256 prefix"
    record = _record_path(w)
    if expected is None and record.is_file():
        expected, what = record.read_text().split()[0], f"sha256 recorded at its first download ({record})"
    if expected is not None and not digest.startswith(expected.lower()):
        if fresh:
            path.unlink(missing_ok=True)
        in_cache = path.resolve().parent == weights_dir().resolve()
        action = ("the download was deleted; nothing was cached" if fresh else
                  f"delete it (rm {path}) to download it again" if in_cache else
                  f"check that it is the file of {w.name}, or load it without the tag")
        raise CheckpointError(f"{path}: sha256 {digest[:16]}... does not match the {what} {expected[:16]}... of "
                              f"{w.name} ({_where(w)}): the file is corrupt or not this checkpoint; {action}")
    if expected is None and record_new:
        problem = checkpoint_problem(path)  # never pin the hash of a cut or foreign file as the reference
        if problem is not None:
            if fresh:
                path.unlink(missing_ok=True)
            raise CheckpointError(f"{path}: {problem}, so it is not the file of {w.name} ({_where(w)}); its hash was "
                                  f"not recorded" + ("; the download was deleted" if fresh else ""))
        record.parent.mkdir(parents=True, exist_ok=True)
        tmp = record.with_suffix(".tmp")
        tmp.write_text(f"{digest}  {w.local_name}\n")
        os.replace(tmp, record)
    return digest


def _pass_the_file(w: Weights) -> str:
    """How to give a file by hand together with the tag: on the command line or in Python."""
    if _COMMAND_LINE.get():
        return f"--pretrained {w.tag} --checkpoint FILE"
    return (f"checkpoint_path together with the tag (create_model({w.arch!r}, pretrained={w.tag!r}, "
            f"checkpoint_path=FILE))")


def _by_hand(w: Weights, dest: Path, url: str | None = None, offline: bool = False) -> str:
    """The way forward when the file cannot be downloaded here: fetch it elsewhere and put it in the cache, or pass
    it as the checkpoint, or serve it from a mirror (and, online, how to stop trying the network)."""
    return (f"fetch {url or _where(w)} on a machine with internet and put it at {dest} (tubelet then finds it), or "
            f"pass it as {_pass_the_file(w)}; TUBELET_WEIGHTS_MIRROR=URL_OR_FOLDER serves every file by its name "
            f"(here {w.local_name})" + ("" if offline else ", and TUBELET_OFFLINE=1 never tries the network"))


def _manual_error(w: Weights, dest: Path) -> CheckpointError:
    if w.pages:
        pages = "; ".join(p.url + (f" ({p.note})" if p.note else "") for p in w.pages)
        return CheckpointError(
            f"{w.name} cannot be downloaded by a program (its only copies are on {pages}). Download it by hand and "
            f"save it as {dest} (tubelet then finds it), or pass it as {_pass_the_file(w)}")
    links = "; ".join(f"{s.url} ({s.note})" if s.note else s.url for s in w.sources)
    return CheckpointError(
        f"{w.name}: every known copy is gone ({links}). If you have the file {w.local_name}, save it as {dest} or "
        f"pass it as {_pass_the_file(w)}")


def fetch(w: Weights, progress: bool = True) -> str:
    """The local path of the verified file of ``w``: cached, from the mirror, or downloaded (see the module docs).

    Raises:
        CheckpointError: manual-only or dead entry not in the cache, offline miss, download failure, hash mismatch.
    """
    dest = cached_path(w)
    if dest.is_file():
        verify(dest, w)
        return str(dest)
    mirror, folder = _mirror(), _mirror_folder()
    if folder is not None:
        local = folder / w.local_name
        if not local.is_file():
            raise CheckpointError(f"{w.name}: {local} not found in TUBELET_WEIGHTS_MIRROR={mirror} (the mirror serves "
                                  f"every file by its name, here {w.local_name})")
        verify(local, w)
        return str(local)
    if is_offline():
        found = _hf_cached(w)
        if found:
            verify(found, w)
            return found
        url = (mirror.rstrip("/") + "/" + w.local_name) if mirror else _where(w)
        flag = "TUBELET_OFFLINE" if _truthy("TUBELET_OFFLINE") else "HF_HUB_OFFLINE"
        raise CheckpointError(f"{w.name} is not cached and {flag}=1 forbids downloading it: "
                              f"{_by_hand(w, dest, url, offline=True)}")
    if mirror:
        url = mirror.rstrip("/") + "/" + w.local_name
        try:
            _download(url, dest, w, progress)
        except _TransferError as e:
            raise _download_error(w, dest, [f"TUBELET_WEIGHTS_MIRROR: {e}"]) from None
        return str(dest)
    if not w.downloads:
        raise _manual_error(w, dest)
    failures = []
    for src in w.downloads:
        try:
            if src.kind == "hf" and _has_hf_hub():
                path = _hf_download(src)
                try:
                    verify(path, w, fresh=True)
                except CheckpointError:
                    _hf_evict(path)  # the blob behind the snapshot link
                    raise
                return path
            url = _hf_url(src) if src.kind == "hf" else src.url
            _download(url, dest, w, progress)
            return str(dest)
        except _TransferError as e:
            failures.append(str(e))
    raise _download_error(w, dest, failures)


def _download_error(w: Weights, dest: Path, failures: list[str]) -> CheckpointError:
    part = dest.with_name(dest.name + ".part")
    kept = (f"; the partial file {part} is kept and the next try resumes it" if part.is_file() else
            "; nothing was written to the cache")
    return CheckpointError(f"{w.name}: could not download {w.local_name} ({'; '.join(failures)}){kept}. Without "
                           f"internet: {_by_hand(w, dest)}")


class _TransferError(Exception):
    """A network failure (the next source is tried)."""


def _hf_url(src: Source) -> str:
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    return f"{endpoint}/{src.repo_id}/resolve/{src.revision}/{src.file_name}"


def _unreachable(url: str) -> str | None:
    """Why the server of ``url`` cannot be reached at all, from one connection attempt (opened and closed again):
    its host name does not resolve, or it (or the proxy on the way, ``HTTPS_PROXY``...) refuses the connection or
    does not answer within the timeout. None when a connection opens, or when there is nothing to test (a proxy of
    another scheme)."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and host and not urllib.request.proxy_bypass(host):
        via = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = via.hostname, via.port or {"http": 80, "https": 443}.get(via.scheme)
    if not host or not port:
        return None
    try:
        socket.create_connection((host, port), timeout=_timeout()).close()
    except socket.gaierror as e:
        return f"the host name {host} does not resolve ({e.strerror or e})"
    except ConnectionRefusedError:
        return f"{host}:{port} refused the connection"
    except TimeoutError:
        return f"{host}:{port} did not answer within {_timeout():g} s"
    except OSError as e:
        return f"cannot connect to {host}:{port} ({e.strerror or e})"
    return None


def _has_hf_hub() -> bool:
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        return False
    return True


def _hf_download(src: Source) -> str:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    # huggingface_hub retries a connection that fails (5 times, ~25 s) before it reports it: test the endpoint once
    reason = _unreachable(_hf_url(src))
    if reason is not None:
        raise _TransferError(f"{_hf_url(src)}: {reason}")
    try:
        return hf_hub_download(src.repo_id, src.file_name, revision=src.revision, library_name="tubelet",
                               local_files_only=_truthy("TUBELET_OFFLINE"),
                               endpoint=os.environ.get("HF_ENDPOINT") or None)
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as e:
        raise _TransferError(f"{_hf_url(src)}: {type(e).__name__}: {str(e).strip().splitlines()[0] if str(e) else ''}")


def _hf_cached(w: Weights) -> str | None:
    """The file in the Hugging Face cache, without any network access."""
    if not _has_hf_hub():
        return None
    from huggingface_hub import try_to_load_from_cache

    for src in w.downloads:
        if src.kind == "hf":
            found = try_to_load_from_cache(src.repo_id, src.file_name, revision=src.revision)
            if isinstance(found, str) and os.path.isfile(found):
                return found
    return None


def _hf_evict(path: str) -> None:
    """Remove a file that failed its hash from the Hugging Face cache (the snapshot link and its blob)."""
    real = os.path.realpath(path)
    for p in {path, real}:
        try:
            os.unlink(p)
        except OSError:
            pass


def _lock(dest: Path):
    from filelock import FileLock

    locks = dest.parent / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    return FileLock(str(locks / f"{dest.name}.lock"))


def _download(url: str, dest: Path, w: Weights, progress: bool) -> None:
    """Download ``url`` to ``dest`` under a file lock: resume ``dest.part``, fsync, verify, rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _lock(dest):
        if dest.is_file():  # another process finished it while this one waited
            verify(dest, w)
            return
        part = dest.with_name(dest.name + ".part")
        try:
            _transfer(url, part, w, progress)
        except BaseException:
            if part.is_file() and part.stat().st_size == 0:
                part.unlink()
            raise
        with open(part, "rb+") as f:
            os.fsync(f.fileno())
        problem = checkpoint_problem(part)
        if problem is not None and (_truncated(problem) or not (w.sha256 or w.sha256_prefix)):
            if not _truncated(problem):  # not a checkpoint at all (a web page...): nothing to resume
                part.unlink(missing_ok=True)
            raise _TransferError(f"{url}: the download is incomplete or not a checkpoint: {problem}")
        try:
            verify(part, w, fresh=True)
        except CheckpointError as e:
            raise CheckpointError(str(e).replace(str(part), f"{url} (downloaded to {part})")) from None
        os.replace(part, dest)
        try:
            fd = os.open(dest.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass


def _transfer(url: str, part: Path, w: Weights, progress: bool) -> None:
    from . import __version__

    offset = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": f"tubelet/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=_timeout())
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # the part file is already complete
            return
        raise _TransferError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise _TransferError(f"{url}: {type(reason).__name__}: {reason}") from None
    with resp:
        if offset and resp.status != 206:
            offset = 0  # the server ignored the Range request: start over
        length = resp.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else (w.downloads[0].size if w.downloads else None)
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                       desc=w.local_name, leave=False)
        received = offset
        try:
            with open(part, "ab" if offset else "wb") as f:
                while True:
                    try:
                        chunk = resp.read(_CHUNK)
                    except (OSError, ValueError, http.client.HTTPException) as e:  # timeouts, resets, IncompleteRead
                        partial = getattr(e, "partial", None)  # what a cut chunked body delivered: kept to resume
                        if isinstance(partial, bytes) and partial:
                            f.write(partial)
                            received += len(partial)
                        raise _TransferError(f"{url}: transfer cut after {received:,} bytes "
                                             f"({type(e).__name__}: {e})") from None
                    if not chunk:
                        break
                    f.write(chunk)
                    received += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        if total is not None and received < total:  # Content-Length, else the published size
            raise _TransferError(f"{url}: transfer cut after {received:,} of {total:,} bytes")


def is_available_locally(w: Weights) -> bool:
    """The file of ``w`` is in the cache, a local mirror folder or the Hugging Face cache (no network, no hashing)."""
    if cached_path(w).is_file():
        return True
    folder = _mirror_folder()
    if folder is not None and (folder / w.local_name).is_file():
        return True
    return _hf_cached(w) is not None


# ------------------------------------------------------------------------------------------------ is the file whole?
_TRUNCATED = "truncated"  # the word that marks a problem as a cut transfer (resumable), not a foreign file
_MAX_SAFETENSORS_HEADER = 100_000_000  # the safetensors format's own limit
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # the first pickle of a legacy torch.save file


def _truncated(problem: str) -> bool:
    return problem.startswith(_TRUNCATED)


def checkpoint_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a whole checkpoint, or None: a structural check of the formats torch.save and safetensors
    write, without reading any tensor. A zip archive (torch.save, TorchScript) must open (its directory is the last
    thing in the file), a safetensors file must be as long as its header says, a pickle (torch.save's legacy format)
    must run to its end; an empty file, or one in none of these formats, is no checkpoint. A problem that starts
    with "truncated" is a cut transfer (the rest may be resumed)."""
    size = os.path.getsize(path)
    if size == 0:
        return "empty (0 bytes)"
    with open(path, "rb") as f:
        head = f.read(16)
        if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            try:
                with zipfile.ZipFile(f) as z:
                    end = max((i.header_offset + i.compress_size for i in z.infolist()), default=0)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
                return f"{_TRUNCATED} or damaged zip archive of {size:,} bytes (torch.save's format): {e}"
            if end > size:
                return f"{_TRUNCATED} zip archive: its members reach byte {end:,} of a {size:,}-byte file"
            return None
        n = int.from_bytes(head[:8], "little")
        if len(head) > 8 and 2 <= n <= _MAX_SAFETENSORS_HEADER and head[8:9] == b"{":
            return _safetensors_problem(f, n, size)
        if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:
            f.seek(0)
            return _pickle_problem(f, size)
    return f"not a checkpoint: no zip, safetensors or pickle starts with the bytes {head[:8].hex(' ')}"


def _safetensors_problem(f, n: int, size: int) -> str | None:
    if 8 + n > size:
        return f"{_TRUNCATED} safetensors file: its header alone is {n:,} bytes, the file {size:,}"
    f.seek(8)
    try:
        header = json.loads(f.read(n).decode("utf-8"))
        end = max((int(e["data_offsets"][1]) for k, e in header.items() if k != "__metadata__"), default=0)
    except (UnicodeDecodeError, ValueError, RecursionError, KeyError, IndexError, TypeError, AttributeError) as e:
        return f"a safetensors file whose header is damaged ({type(e).__name__})"
    if 8 + n + end > size:
        return f"{_TRUNCATED} safetensors file: its tensors end at byte {8 + n + end:,}, the file at {size:,}"
    return None


#: bytes per element of the storage classes a legacy torch.save pickle names
_STORAGE_ITEMSIZE = {"FloatStorage": 4, "DoubleStorage": 8, "HalfStorage": 2, "BFloat16Storage": 2, "LongStorage": 8,
                     "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1,
                     "ComplexFloatStorage": 8, "ComplexDoubleStorage": 16}


def _pickle_problem(f, size: int) -> str | None:
    """Walk the pickles of a legacy torch.save file (magic number, protocol, system info, the object, the storage
    keys) or of a plain pickle, by their opcodes: nothing is unpickled, so nothing runs. The object's storage records
    (``("storage", torch.FloatStorage, key, location, numel)``) give the length of the data after the pickles (per
    storage: an 8-byte element count, then its bytes)."""
    def walk() -> list:
        """One pickle's opcode arguments in order (GLOBALs as "module name", memo lookups resolved), every opcode
        without one as ``None``."""
        memo, values = {}, [None]
        for op, arg, _ in pickletools.genops(f):  # raises on a pickle cut before its STOP
            if op.name in ("BINPUT", "LONG_BINPUT", "PUT"):
                memo[arg] = values[-1]
            elif op.name == "MEMOIZE":
                memo[len(memo)] = values[-1]
            elif op.name in ("BINGET", "LONG_BINGET", "GET"):
                values.append(memo.get(arg))
            elif op.name == "STACK_GLOBAL" and len(values) > 2:  # protocol 4+: module and name pushed before
                values[-2:] = [f"{values[-2]} {values[-1]}"]
            else:
                values.append(arg)
        return values

    try:
        if _TORCH_LEGACY_MAGIC not in walk():
            return None  # a plain pickle, whole
        walk(), walk()  # the protocol version, the system info
        values, keys = walk(), walk()  # the object, the storage keys
    except (ValueError, EOFError, IndexError) as e:
        return f"{_TRUNCATED} pickle of {size:,} bytes (torch.save's legacy format is pickles): {e}"
    nbytes = {}  # storage key -> bytes, from the object's storage records
    for i, v in enumerate(values[:-4]):
        if v == "storage" and isinstance(values[i + 1], str) and values[i + 1].startswith("torch "):
            itemsize = _STORAGE_ITEMSIZE.get(values[i + 1].split(" ", 1)[1])
            key, numel = values[i + 2], values[i + 4]
            if itemsize and isinstance(key, str) and isinstance(numel, int):
                nbytes[key] = numel * itemsize
    keys = [k for k in keys if isinstance(k, str)]
    if keys and all(k in nbytes for k in keys):
        end = f.tell() + sum(8 + nbytes[k] for k in keys)
    else:  # a storage type this check does not know: at least the element counts
        end = f.tell() + 8 * len(keys)
    if size < end:
        return f"{_TRUNCATED} legacy torch.save file: its {len(keys)} tensors end at byte {end:,}, the file at {size:,}"
    return None
