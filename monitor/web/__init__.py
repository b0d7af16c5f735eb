"""``monitor serve``: pages for the people who read the matches, and a
versioned API for programs (``monitor.web.app.create_app``).

* ``access``: tokens, sign-in sessions, CSRF; ``context``: what every
  request reaches and the access checks;
* ``api``: ``/api/v1``; ``pages``: the HTML pages (``templates/``,
  ``static/``); ``topics``: what the model learned, threshold previews;
  ``metrics``: ``/metrics``; ``rendering``: what the page handlers share;
  ``signin``: signing in and out.
"""

from monitor.web.access import AccessError

__all__ = ["AccessError"]
