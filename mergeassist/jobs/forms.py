from django import forms


class StartJobForm(forms.Form):
    """Which button was pressed: "Sync now", "Full sync now" (superusers) or "Scan now"."""

    job = forms.ChoiceField(choices=[("sync", "Sync now"), ("full_sync", "Full sync now"), ("scan", "Scan now")])
    # Where a browser without JavaScript goes back to.
    next = forms.CharField(required=False, max_length=2000)
