from django.urls import path

from mergeassist.crm import views

urlpatterns = [
    path("customers/", views.list_customers, name="customers"),
    path("customers/sync-status", views.show_sync_status, name="customers-sync-status"),
]
