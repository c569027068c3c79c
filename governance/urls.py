from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from governance.views import dashboard

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("health/", dashboard.health, name="health"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("accounts/", include("governance.urls_accounts")),
    path("", include("governance.urls_inventory")),
    path("people/", include("governance.urls_people")),
    path("audit/", include("governance.urls_audit")),
    path("packs/", include("governance.packs.urls")),
    path("data-protection/", include("governance.urls_data_protection")),
    path("assessments/", include("assessments.urls")),
    path("training/", include("training.urls")),
    path("api/", include("governance.api.urls")),
    path("django-admin/", admin.site.urls),
]
