from django.urls import path

from . import views
from .campaigns import feeds
from .engine import webhooks

app_name = "waitlist"

urlpatterns = [
    path("waitlist/", views.JoinView.as_view(), name="join"),
    path("api/waitlist/", views.JoinView.as_view(), name="api_join"),
    path("waitlist/check-your-inbox/", views.CheckInboxView.as_view(), name="check_inbox"),
    path("waitlist/confirm/<str:token>/", views.ConfirmView.as_view(), name="confirm"),
    path("waitlist/welcome/<str:token>/", views.WelcomeView.as_view(), name="welcome"),
    path("waitlist/preferences/<str:token>/", views.PreferencesView.as_view(), name="preferences"),
    path("waitlist/preferences/<str:token>/export/", views.ExportView.as_view(), name="export"),
    path("waitlist/preferences/<str:token>/erase/", views.EraseView.as_view(), name="erase"),
    path("start/<str:code>/", views.StartView.as_view(), name="start"),
    path("u/<str:token>/", views.UnsubscribeView.as_view(), name="unsubscribe"),
    path("updates/", views.UpdatesView.as_view(), name="updates"),
    path("updates/feed/", feeds.LaunchUpdatesFeed(), name="updates_feed"),
    path("updates/<int:pk>/", views.UpdateView.as_view(), name="update"),
    path("anymail/<str:esp>/tracking/", webhooks.tracking, name="email_service_webhook"),
]
