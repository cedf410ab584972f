from django.db import connection
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from halftime.urls import urlpatterns as site


@csrf_exempt
@require_POST
def insert(request):
    """What a signup costs at least: one INSERT in autocommit, in the table `Stack` creates."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_insert (email, created_at) VALUES (%s, CURRENT_TIMESTAMP)",
            [request.POST.get("email", "")[:254]],
        )
    return HttpResponse("ok", content_type="text/plain", status=201)


urlpatterns = [path("bench/insert", insert), *site]
