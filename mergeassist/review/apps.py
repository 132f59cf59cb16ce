from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "mergeassist.review"
    verbose_name = "Review"
