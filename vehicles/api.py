"""Vehicles for supervisors (the API's default permission): create, read, update, delete."""

from rest_framework import viewsets
from rest_framework.filters import OrderingFilter, SearchFilter
from rest_framework.pagination import PageNumberPagination

from vehicles.models import Vehicle
from vehicles.serializers import VehicleSerializer


class VehiclePagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class VehicleViewSet(viewsets.ModelViewSet):
    queryset = Vehicle.objects.all()
    serializer_class = VehicleSerializer
    pagination_class = VehiclePagination
    filter_backends = [SearchFilter, OrderingFilter]
    search_fields = ["vin", "make", "model"]
    ordering_fields = ["make", "model", "year", "created_at"]
    ordering = ["make", "model", "-year"]
