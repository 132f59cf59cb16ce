from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("mergeassist.core.urls")),
    path("", include("mergeassist.crm.urls")),
    path("", include("mergeassist.review.urls")),
    path("", include("mergeassist.audit.urls")),
    path("", include("mergeassist.jobs.urls")),
]

# A refusal in words (or a small fragment for htmx), and "whom to ask" for people with no role.
handler403 = "mergeassist.core.views.permission_denied"

if settings.MERGEASSIST_SANDBOX:
    urlpatterns.append(path("sandbox/", include("mergeassist.sandbox.urls")))
