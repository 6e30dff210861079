"""gunicorn settings shared by every way the portal is served (run.sh, compose, the image).

gunicorn reads this file from the working directory. The access log leaves out the query
string and the referrer: "this wasn't me" and manager links carry their token in the query.
Each worker records the recovery policy it serves with (tickets.policy) once it has booted.
"""

import logging

accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s'
timeout = 30


def post_worker_init(worker):
    # Django is loaded by now (the app is imported before this hook), not when gunicorn reads
    # this file: hence the import here.
    from django.db import DatabaseError

    from tickets import policy

    try:
        policy.record_policy_in_force(process="web")
    except DatabaseError:
        # The web comes up without its database to say so on /health/; the policy is recorded
        # by the next worker that boots with the database back.
        logging.getLogger("tickets.policy").exception("recovery policy not recorded")
