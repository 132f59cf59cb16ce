from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def jobs_panel(request: HttpRequest) -> dict[str, object]:
    """`jobs_panel` for `{% include "jobs/_panel.html" %}`: read only on pages that include the panel."""

    def build() -> object:
        from mergeassist.jobs.progress import build_panel

        return build_panel(request.user)

    return {"jobs_panel": SimpleLazyObject(build)}
