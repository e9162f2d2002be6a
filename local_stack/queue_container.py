"""One execution environment of an SQS event source, as a child process of the local stack
(`python -m local_stack.queue_container FUNCTION`, started by queues.QueuePollers).

It is started with exactly its function's environment (lambdas.lambda_environment: the template's
variables, Lambda's own, Moto's endpoint), reads its event source as one JSON line on stdin, loads
the function once (a warm container) and polls until stdin
closes: the stack stopping it, or the stack gone. Ctrl-C reaches the whole process group: the child
ignores it and lets the stack stop it. Handlers log to stdout, as in Lambda; the stack started the
child with stdout on its own stderr.
"""

import json
import os
import signal
import sys
import threading
import time
import warnings

from . import lambdas
from . import template as tpl
from .aws_faults import in_this_process
from .queues import QueuePoller, QueueSource


def main() -> None:
    started = time.monotonic()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Powertools warns on every invocation that adds no metric (each one is a Lambda "container").
    warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
    spec = json.loads(sys.stdin.readline())
    source = QueueSource(**spec["source"])
    lambdas.ensure_import_paths()
    template = tpl.load()
    import boto3  # noqa: PLC0415 - imported where it is used, as the handler's modules do

    # The poller's own client is Lambda's, not the function's: AWS faults reach only the function's.
    poller = QueuePoller(source, None, boto3.session.Session().client("sqs"))
    with in_this_process(spec.get("aws_faults", "")):  # AWS unwell, for the function's clients only
        poller.function = lambdas.local_function(
            template, tpl.functions(template)[source.function], spec["refs"], spec["timeout"]
        )
        # As Lambda reports an init: the stack says ready only once every one of these is out.
        init_ms = (time.monotonic() - started) * 1000
        print(f"INIT_REPORT {source.function} Init Duration: {init_ms:.2f} ms", file=sys.stderr, flush=True)
        if (ready := spec.get("ready_fd")) is not None:
            os.write(ready, b"ready\n")
            os.close(ready)
        thread = threading.Thread(target=poller.run, name=f"local-sqs-{source.function}")
        thread.start()
        sys.stdin.read()  # until EOF
        poller.stopping.set()
        thread.join()


if __name__ == "__main__":
    main()
