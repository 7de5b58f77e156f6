"""`make run`: the app with its whole local stack, until Ctrl-C."""

from __future__ import annotations

import signal
import sys
import time

from devhost.stack import Stack


def main() -> int:
    stack = Stack()
    print("Starting Azurite, MailDev, the identity provider and the function app...", flush=True)
    stack.start()
    try:
        from devhost.seed import seed_demo

        demo = seed_demo(stack)
    except Exception as exc:  # the stack is still useful without the demo data
        demo = f"  (demo data not seeded: {exc})"
    print(
        f"""
Local stack is up (logs in .local/logs/):
  app            {stack.app_url}/api/...
  health         {stack.app_url}/api/health
  OpenAPI        {stack.app_url}/api/openapi.json
  mail inbox     {stack.mail_url}   (SMTP on 127.0.0.1:{stack.ports.smtp})
  sign-in        {stack.authority}/.well-known/openid-configuration
  storage        Azurite: blob {stack.ports.blob}, queue {stack.ports.queue}, table {stack.ports.table}
{demo}
Ctrl-C stops everything.""",
        flush=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            stack.check_alive()
            time.sleep(1)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        print("\nStopping...", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
