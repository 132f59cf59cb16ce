from django.urls import path

from mergeassist.review import views

urlpatterns = [
    path("review/", views.list_queue, name="review-queue"),
    path("review/<int:pair_id>/", views.show_pair, name="review-pair"),
    path("review/<int:pair_id>/merge", views.merge_pair, name="review-merge"),
    path("review/<int:pair_id>/reject", views.reject_pair, name="review-reject"),
    path("review/<int:pair_id>/skip", views.skip_pair, name="review-skip"),
    path("review/<int:pair_id>/settle", views.settle_pair, name="review-settle"),
    path("review/compare", views.compare_customers, name="review-compare"),
    path("review/clusters/<int:cluster_id>/", views.show_cluster, name="review-cluster"),
    path("review/clusters/<int:cluster_id>/merge", views.merge_cluster, name="review-cluster-merge"),
]
