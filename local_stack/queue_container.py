"""One execution environment of an SQS event source, as a child process of the local stack
(`python -m local_stack.queue_container`, started by queues.QueuePollers).

It inherits the stack's environment (the functions' variables, Moto's endpoint), reads its event
source as one JSON line on stdin, loads the function once (a warm container) and polls until stdin
closes: the stack stopping it, or the stack gone. Ctrl-C reaches the whole process group: the child
ignores it and lets the stack stop it. Handlers log to stdout, as in Lambda; the stack started the
child with stdout on its own stderr.
"""

import json
import signal
import sys
import threading
import warnings

from . import lambdas
from . import template as tpl
from .queues import QueuePoller, QueueSource


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Powertools warns on every invocation that adds no metric (each one is a Lambda "container").
    warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
    spec = json.loads(sys.stdin.readline())
    source = QueueSource(**spec["source"])
    lambdas.ensure_import_paths()
    template = tpl.load()
    function = lambdas.local_function(
        template, tpl.functions(template)[source.function], spec["refs"], spec["timeout"]
    )
    import boto3  # noqa: PLC0415 - after the environment's endpoint and credentials are read

    poller = QueuePoller(source, function, boto3.client("sqs"))
    thread = threading.Thread(target=poller.run, name=f"local-sqs-{source.function}")
    thread.start()
    sys.stdin.read()  # until EOF
    poller.stopping.set()
    thread.join()


if __name__ == "__main__":
    main()
