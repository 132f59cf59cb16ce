"""The sandbox CRM's API, mounted at /sandbox/ when settings.MERGEASSIST_SANDBOX is on."""

from django.urls import path

from mergeassist.sandbox import views

urlpatterns = [
    path("v2/customers/", views.list_customers, name="sandbox-list-customers"),
    path("v2/customers/<str:customer_id>", views.update_customer, name="sandbox-update-customer"),
    path("v2/customers/<str:customer_id>/notes", views.add_note, name="sandbox-add-note"),
    path("v2/customers/<str:primary_id>/merge/<str:secondary_id>", views.merge, name="sandbox-merge"),
]
