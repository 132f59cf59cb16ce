from django.urls import path

from mergeassist.audit import views

urlpatterns = [
    path("history/", views.list_history, name="history"),
    path("history/export.csv", views.export_history, name="history-export"),
    path("history/<int:decision_id>/", views.show_decision, name="history-detail"),
    path("history/<int:decision_id>/secondary.json", views.download_secondary, name="history-secondary-json"),
    path("history/<int:decision_id>/revert/", views.revert_fields, name="history-revert"),
    path("dashboard/", views.show_dashboard, name="dashboard"),
]
