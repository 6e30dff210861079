from django.urls import path

from tickets.views import home, manager, reveal, staff

urlpatterns = [
    path("", home.staff_home, name="staff_home"),
    path("queue/", staff.queue, name="staff_queue"),
    path("tickets/<int:pk>/", staff.ticket_detail, name="staff_ticket"),
    path("tickets/<int:pk>/claim/", staff.claim, name="staff_claim"),
    path("tickets/<int:pk>/assign/", staff.assign, name="staff_assign"),
    path("tickets/<int:pk>/verify/", staff.verify_form, name="staff_verify"),
    path("tickets/<int:pk>/verify/submit/", staff.verify_submit, name="staff_verify_submit"),
    path("tickets/<int:pk>/approve/", staff.approve, name="staff_approve"),
    path("tickets/<int:pk>/fraud/", staff.flag_fraud, name="staff_flag_fraud"),
    path("tickets/<int:pk>/close/", staff.close, name="staff_close"),
    path("tickets/<int:pk>/unfreeze/", staff.unfreeze, name="staff_unfreeze"),
    path("tickets/<int:pk>/retry/", staff.retry, name="staff_retry"),
    path("tickets/<int:pk>/reveal/", reveal.agent_reveal, name="staff_reveal"),
    # The manager of record's confirmation (the mailed link carries the token as ?t=).
    path("manager/", manager.confirm, name="manager_confirm"),
    path("manager/decide/", manager.decide, name="manager_decide"),
]
