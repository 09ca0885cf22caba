from django.urls import path

from mailings import views

urlpatterns = [
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("subscribe/confirm/<str:token>/", views.subscribe_confirm, name="subscribe-confirm"),
    path("subscribe/<str:token>/", views.subscribe, name="subscribe"),
]
