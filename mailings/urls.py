from django.urls import path

from mailings import views

urlpatterns = [
    # Before the token pattern: "test" is not a token (signed tokens always hold a colon).
    path("unsubscribe/test/", views.unsubscribe_test, name="unsubscribe_test"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("subscribe/confirm/<str:token>/", views.subscribe_confirm, name="subscribe-confirm"),
    path("subscribe/<str:token>/", views.subscribe, name="subscribe"),
]
