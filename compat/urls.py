from django.urls import path

from compat import views

urlpatterns = [
    path("models", views.ModelList.as_view(), name="openai-models"),
    # Model ids hold a slash (`openai/gpt-4o-mini`).
    path("models/<path:model>", views.ModelDetail.as_view(), name="openai-model"),
    path("chat/completions", views.ChatCompletions.as_view(), name="openai-chat-completions"),
]
