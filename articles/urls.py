from django.urls import path

from . import review, views
from .feeds import LatestArticlesFeed

app_name = "articles"

urlpatterns = [
    path("", views.LearningCenterView.as_view(), name="index"),
    path("search/", views.SearchView.as_view(), name="search"),
    path("feed/", LatestArticlesFeed(), name="feed"),
    path("glossary/", views.GlossaryView.as_view(), name="glossary"),
    path("topic/<slug:slug>/", views.TopicView.as_view(), name="topic"),
    path("people/<slug:slug>/", views.PersonView.as_view(), name="person"),
    path("editorial-policy/", views.EditorialPolicyView.as_view(), name="editorial_policy"),
    path("<slug:slug>/", views.ArticleDetailView.as_view(), name="detail"),
    path("<slug:slug>/review/", review.review_page, name="review"),
    path("<slug:slug>/feedback/", views.FeedbackView.as_view(), name="feedback"),
    path("<slug:slug>/share.png", views.share_image, name="share_image"),
]
