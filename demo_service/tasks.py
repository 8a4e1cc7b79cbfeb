"""demo_service's background tasks, registered on the shared Procrastinate app as `demo:*`."""

import procrastinate

from shared import queue

blueprint = procrastinate.Blueprint()

# Keep last: it registers the tasks defined above, under this service's namespace.
queue.app.add_tasks_from(blueprint, namespace="demo")
