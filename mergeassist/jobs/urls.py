from django.urls import path

from mergeassist.jobs import views

urlpatterns = [
    path("jobs/panel", views.show_jobs_panel, name="jobs-panel"),
    path("jobs/start", views.start_job, name="jobs-start"),
]
