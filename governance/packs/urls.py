"""Evidence-pack pages (under /packs/)."""

from django.urls import path

from governance.packs import views

urlpatterns = [
    path("", views.pack_list, name="pack_list"),
    path("new/", views.pack_create, name="pack_create"),
    path("verify/", views.pack_verify, name="pack_verify"),
    path("<uuid:pack_id>/", views.pack_detail, name="pack_detail"),
    path("<uuid:pack_id>/download/", views.pack_download, name="pack_download"),
]
