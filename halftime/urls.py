from django.conf import settings
from django.contrib import admin
from django.contrib.sitemaps.views import sitemap
from django.urls import include, path

from articles.sitemaps import sitemaps as learning_center
from halftime import views
from halftime.metrics import metrics
from waitlist.campaigns.sitemaps import UpdateSitemap

sitemaps = {**learning_center, "updates": UpdateSitemap}

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("privacy/", views.PrivacyView.as_view(), name="privacy"),
    path("health-data-privacy/", views.HealthDataPolicyView.as_view(), name="health_data_policy"),
    path(
        "health-data-privacy/<str:version>/",
        views.HealthDataPolicyView.as_view(),
        name="health_data_policy_version",
    ),
    path(".well-known/gpc.json", views.gpc, name="gpc"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("robots.txt", views.robots_txt, name="robots_txt"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("apple-touch-icon.png", views.icon, {"size": 180}, name="apple_touch_icon"),
    path("icon-<int:size>.png", views.icon, name="icon"),
    path("site.webmanifest", views.manifest, name="manifest"),
    path("share.png", views.share_image, name="share_image"),
    path("metrics", metrics, name="metrics"),
    path("sitemap.xml", sitemap, {"sitemaps": sitemaps}, name="sitemap"),
    path("learn/", include("articles.urls")),
    path("", include("waitlist.urls")),
    path(settings.ADMIN_PATH, admin.site.urls),
]
