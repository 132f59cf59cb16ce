from django.urls import path

from mergeassist.crm import views

urlpatterns = [
    path("customers/", views.list_customers, name="customers"),
]
