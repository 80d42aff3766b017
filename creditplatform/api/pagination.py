"""Pagination shared by every list endpoint."""

from rest_framework.pagination import PageNumberPagination


class StandardPagination(PageNumberPagination):
    """``?page=N&page_size=M``; ``page_size`` is clamped to 100 so nobody dumps a table."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100
