from django.db import migrations

MONTHLY_TASK = "Monthly performance report"


def create_monthly_schedule(apps, schema_editor):
    """04:00 UTC on the 1st of each month: every credit version's performance on matured labels.

    Created once here rather than in CELERY_BEAT_SCHEDULE, which beat writes over at every
    start: an admin's change to this schedule (Periodic tasks in the admin) stays.
    """
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="4", day_of_week="*", day_of_month="1", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=MONTHLY_TASK,
        defaults={
            "task": "governance.tasks.performance_report_monthly",
            "crontab": crontab,
            "description": "Each credit model version's figures on decisions whose outcome is known "
            "(python manage.py performance_report runs it by hand).",
        },
    )


def remove_monthly_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=MONTHLY_TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("governance", "0002_performance_reports"),
    ]

    operations = [migrations.RunPython(create_monthly_schedule, remove_monthly_schedule)]
