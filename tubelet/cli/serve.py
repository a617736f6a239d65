"""``tubelet serve``: the local web page (:mod:`tubelet.serve`)."""
from __future__ import annotations

import signal
import threading

from ..errors import UsageError
from ..serve import DEFAULT_MAX_DURATION, DEFAULT_MAX_FILE_SIZE
from .common import add_model_arguments, model_options, parse_views


def cmd_serve(args) -> int:
    from ..engine.inference import resolve_device
    from ..serve import build_app, close, launch

    device = resolve_device(args.device)
    options = model_options(args.set)
    published = args.views is not None and args.views.lower() == "model"
    # 'model': each model of the list with its own published views (the state asks its pretrained_cfg per request)
    views = "model" if published else parse_views(args.views, None)
    if args.max_duration <= 0:
        raise UsageError(f"--max-duration must be positive, got {args.max_duration:g}")
    demo = build_app(args.model, checkpoint=args.checkpoint, pretrained=args.pretrained, options=options,
                     device=device, views=views, max_duration=args.max_duration, max_file_size=args.max_file_size,
                     released=not args.no_released)
    print(f"tubelet serve: weights {demo.tubelet_state.choices[demo.tubelet_state.default_key].label}", flush=True)
    previous = _stop_on_sigterm()
    # Gradio's own lines are left out (quiet): they advise `share=True` in `launch()`, which has no meaning here
    where = "this machine only; --host 0.0.0.0 serves your network" if args.host in ("127.0.0.1", "localhost") \
        else f"listening on {args.host}"
    print(f"tubelet serve: open http://{'127.0.0.1' if args.host == '0.0.0.0' else args.host}:{args.port} in a "
          f"browser ({where}); Ctrl+C stops", flush=True)
    try:
        launch(demo, args.host, args.port, block=True, quiet=True)
    except OSError as e:  # the port is taken
        raise UsageError(f"cannot serve on {args.host}:{args.port}: {e}") from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        close(demo)
    return 0


def _stop_on_sigterm():
    """``kill`` (SIGTERM) stops the server as Ctrl+C does, so that its temporary folder is removed; returns the
    previous handler (None when not in the main thread, where handlers cannot be set)."""
    def stop(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, stop)


def add_parsers(sub) -> None:
    """Add ``serve``."""
    s = sub.add_parser("serve", help="a local web page that classifies uploaded videos (needs tubelet[app])",
                       description="Serve a web page (Gradio) that classifies one uploaded video at a time: top-5, "
                                   "the sampled frames, a timeline for long videos and a saliency map. Works offline.")
    add_model_arguments(s, model_help="default variant (see `tubelet models`); default: a small random UniFormer",
                        checkpoint_help="default weights, in any supported layout")
    s.add_argument("--views", help="CLIPSxCROPS test views (default 1x1, as tubelet predict; 'model' = the "
                                   "published protocol)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    s.add_argument("--max-duration", type=float, default=DEFAULT_MAX_DURATION,
                   help=f"refuse longer videos, in seconds, before decoding them (default {DEFAULT_MAX_DURATION:g})")
    s.add_argument("--max-file-size", default=DEFAULT_MAX_FILE_SIZE,
                   help=f"refuse larger uploads (default {DEFAULT_MAX_FILE_SIZE})")
    s.add_argument("--no-released", action="store_true", help="list only the default weights, not the released "
                                                               "classifiers (which are downloaded when picked)")
    s.set_defaults(func=cmd_serve)
