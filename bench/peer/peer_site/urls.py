from django.urls import include, path

urlpatterns = [path("newsletter/", include("newsletter.urls"))]
