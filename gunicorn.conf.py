"""gunicorn settings shared by every way the portal is served (run.sh, compose, the image).

gunicorn reads this file from the working directory. The access log leaves out the query
string and the referrer: "this wasn't me" and manager links carry their token in the query.
"""

accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s'
timeout = 30
