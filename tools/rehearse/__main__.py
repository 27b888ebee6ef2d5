"""`python tools/rehearse COMMAND RUN_DIR …`, as scripts/rehearse.sh runs it (with the
rehearsal venv's python: .local/rehearsal-venv):

    start RUN_DIR [--auth] [--sfn-wait-scale S]   MiniStack on 127.0.0.1:<free port>
    deploy RUN_DIR --template T --bin-dir D        template.yaml deployed; RUN_DIR/stack.env
    logs RUN_DIR [--since-ms MS] [--all]           the functions' logs (trouble only by default)
    stop RUN_DIR                                   MiniStack and every bootstrap it started
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import deploy  # noqa: E402
import emulator  # noqa: E402
import logs  # noqa: E402


def main():
    parser = argparse.ArgumentParser(prog="rehearse")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start")
    start.add_argument("run_dir")
    start.add_argument("--auth", action="store_true")
    start.add_argument("--sfn-wait-scale", type=float, default=1.0)
    deploying = commands.add_parser("deploy")
    deploying.add_argument("run_dir")
    deploying.add_argument("--template", required=True)
    deploying.add_argument("--bin-dir", required=True)
    showing = commands.add_parser("logs")
    showing.add_argument("run_dir")
    showing.add_argument("--since-ms", type=int, default=0)
    showing.add_argument("--all", action="store_true")
    stop = commands.add_parser("stop")
    stop.add_argument("run_dir")
    args = parser.parse_args()
    run_dir = os.path.abspath(args.run_dir)

    if args.command == "start":
        with open(os.path.join(run_dir, "auth"), "w") as f:
            f.write("true" if args.auth else "false")
        print(emulator.start(run_dir, args.auth, args.sfn_wait_scale))
    elif args.command == "deploy":
        with open(os.path.join(run_dir, "endpoint")) as f:
            endpoint = f.read().strip()
        with open(os.path.join(run_dir, "auth")) as f:
            auth = f.read().strip() == "true"
        state = deploy.deploy(run_dir, endpoint, auth, args.template, args.bin_dir)
        print(
            f"stack {state['stack']} deployed in {state['deploy_seconds']} s {state['seconds']}: {len(state['functions'])} functions, "
            f"{len(state['routes'])} routes, API {state['api_url']}; transformations: {', '.join(state['transforms'])}"
        )
    elif args.command == "logs":
        with open(os.path.join(run_dir, "stack.json")) as f:
            logs.show(json.load(f), args.since_ms, args.all)
    elif args.command == "stop":
        if not emulator.stop(run_dir):
            sys.exit(f"MiniStack's process group in {run_dir} is still alive")


if __name__ == "__main__":
    main()
