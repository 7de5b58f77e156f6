"""`make run`: the app with its whole local stack, until Ctrl-C; `make services`: the stack without the app, for `func start`."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from devhost.stack import CA_SETTINGS, STOP_SIGNALS, PortError, Ports, Stack


def main(argv: list[str] | None = None) -> int:
    # Taken before local.settings.json is read into the environment: only what the user set may override the stack.
    user_env = dict(os.environ)
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--services-only", action="store_true",
                        help="start storage, inbox and sign-in provider only, and print the settings for `func start`")
    parser.add_argument("--in-memory", action="store_true", help="keep Azurite's data in memory instead of .local/azurite/")
    parser.add_argument("--log-dir", type=Path, help="where the services' logs go (default .local/logs/)")
    args = parser.parse_args(argv)
    try:
        ports = Ports.from_env(user_env)
    except PortError as exc:
        print(exc, file=sys.stderr)
        return 2
    services = ("azurite", "maildev", "identity", "webhooks", "dns")
    services = services if args.services_only else (*services, "app", "reports")
    stack = Stack(ports=ports, services=services, in_memory=args.in_memory, user_env=user_env)
    if args.log_dir:
        stack.log_dir = args.log_dir
    what = "Azurite, MailDev and the identity provider" if args.services_only else "Azurite, MailDev, the identity provider and the function app"
    print(f"Starting {what}...", flush=True)
    # SIGTERM (a task runner, `timeout`, a CI cancel) or SIGHUP (a closed terminal) stops the stack as Ctrl-C does, from the first child on:
    # `Stack.start` stops what it started when interrupted, and `Stack.stop` ignores a second signal.
    stopping: list[bool] = []

    def stop_once(*_: object) -> None:
        # The first signal stops the stack; a second one (make forwards the group's SIGTERM) arriving before
        # Stack.stop ignores signals itself must not interrupt the shutdown that the first one began.
        if not stopping:
            stopping.append(True)
            sys.exit(0)

    for sig in STOP_SIGNALS:
        signal.signal(sig, stop_once)
    try:
        stack.start()
    except PortError as exc:
        print(exc, file=sys.stderr)
        return 1
    except (KeyboardInterrupt, SystemExit):
        return 0
    try:
        from devhost.seed import seed_demo

        try:
            demo = seed_demo(stack)
        except Exception as exc:  # the stack is still useful without the demo data
            demo = f"  (demo data not seeded: {exc})"
        if args.services_only:
            # For debuggers and scripts (.vscode/launch.json reads it as an envFile); gone when the services stop.
            env_file = stack.log_dir.parent / "services.env"
            env_file.write_text("".join(f"{k}={v}\n" for k, v in stack.app_env().items()))
        print(banner(stack, demo, services_only=args.services_only), flush=True)
        while True:
            stack.check_alive()
            time.sleep(1)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        with contextlib.suppress(OSError):  # the terminal or pipe we print to may be gone already
            print("\nStopping...", flush=True)
        stack.stop()
        if args.services_only:
            (stack.log_dir.parent / "services.env").unlink(missing_ok=True)
    return 0


def banner(stack: Stack, demo: str, *, services_only: bool) -> str:
    p = stack.ports
    env = stack.app_env()
    lines = ["", "Local services are up (logs in " + str(stack.log_dir) + "):" if services_only else
             "Local stack is up (logs in " + str(stack.log_dir) + "):"]
    if not services_only:
        from devhost.functions_host import KEYS_PATH, local_keys

        lines += [
            f"  app            {stack.app_url}/api/...",
            f"  health         {stack.app_url}/api/health",
            f"  OpenAPI        {stack.app_url}/api/openapi.json",
            f"  function key   {local_keys().default}   (for FUNCTION-level routes; master key in {KEYS_PATH})",
            f"  delivery       {stack.app_url}/runtime/webhooks/eventgrid?functionName=receive_email_delivery_report"
            f"&code={local_keys().system_key('eventgrid_extension')}",
            "                 every mail MailDev accepts is reported there: @hardbounce.example Bounced, @quarantine.example",
            "                 Quarantined, @spamfilter.example FilteredSpam, anything else Delivered",
        ]
    lines += [
        f"  mail inbox     {stack.mail_url}   (SMTP on 127.0.0.1:{p.smtp})",
        f"  webhook inbox  {stack.webhook_inbox_url}   (the demo partner's deliveries, signatures checked)",
        f"  sign-in        {stack.authority}/.well-known/openid-configuration",
        f"  storage        Azurite: blob {p.blob}, queue {p.queue}, table {p.table}",
        f"  DNS            127.0.0.1:{p.dns} (UDP/TCP), TXT records from {stack.dns_records}; add one with",
        "                 .venv/bin/python -m devhost.dns_server add <domain> 'partner-platform-verification=<token>'",
    ]
    overridden = stack.overridden()
    if overridden:
        lines += ["", "From your environment (these win over the stack's own settings):"]
        lines += [f"  {k}={v}" + ("   (plus the local CA)" if k in CA_SETTINGS else "") for k, v in sorted(overridden.items())]
    if services_only:
        values = env
        lines += [
            "",
            f"Settings for `func start --port {p.app}`: put them in local.settings.json's \"Values\",",
            json.dumps(values, indent=2),
            f"or export them (real environment variables win over local.settings.json in Core Tools too; also in "
            f"{stack.log_dir.parent / 'services.env'}):",
            *(f"export {k}='{v}'" for k, v in values.items()),
        ]
    lines += [demo, "Ctrl-C stops everything."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
