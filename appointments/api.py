"""The appointment book in the API, for staff with the model's permissions."""

from django_filters import rest_framework as filters
from rest_framework import mixins, permissions, viewsets
from rest_framework.pagination import PageNumberPagination

from appointments.models import Appointment, ServiceType
from appointments.serializers import AppointmentSerializer, ServiceTypeSerializer


class StaffWithModelPermissions(permissions.DjangoModelPermissions):
    """Staff only, and then Django's add/change/delete (and view, for reading) permissions."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_staff) and super().has_permission(
            request, view
        )


class AppointmentFilter(filters.FilterSet):
    starts_after = filters.IsoDateTimeFilter(field_name="start", lookup_expr="gte")
    starts_before = filters.IsoDateTimeFilter(field_name="start", lookup_expr="lt")

    class Meta:
        model = Appointment
        fields = ["status", "service", "vehicle", "call", "reference"]


class BookPagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


class AppointmentViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Book (POST), move (PATCH a new start), cancel (PATCH status=cancelled), mark done or
    no-show, and list the book. Appointments are not deleted: cancelled ones stay on record."""

    queryset = Appointment.objects.select_related("service")
    serializer_class = AppointmentSerializer
    permission_classes = [StaffWithModelPermissions]
    filterset_class = AppointmentFilter
    pagination_class = BookPagination


class ServiceTypeViewSet(viewsets.ReadOnlyModelViewSet):
    """The services callers can book."""

    queryset = ServiceType.objects.all()
    serializer_class = ServiceTypeSerializer
    permission_classes = [StaffWithModelPermissions]
    pagination_class = BookPagination
