from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class PostQuerySet(models.QuerySet):
    def published(self):
        from django.utils import timezone

        return self.filter(is_published=True, published_at__lte=timezone.now())


class Post(models.Model):
    title = models.CharField(_("title"), max_length=200)
    slug = models.SlugField(
        _("slug"), max_length=220, unique=True, allow_unicode=True, blank=True,
        help_text=_("Part of the address; made from the title when left empty."),
    )
    body = models.TextField(_("content"))
    image = models.ImageField(_("image"), upload_to="blog/", blank=True)
    views = models.PositiveIntegerField(_("views"), default=0, editable=False)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True, db_index=True)
    is_published = models.BooleanField(_("published"), default=False, db_index=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="posts",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = PostQuerySet.as_manager()

    class Meta:
        verbose_name = _("blog post")
        verbose_name_plural = _("blog posts")
        ordering = ["-published_at", "-id"]

    def __str__(self):
        return self.title

    def save(self, *args, **kwargs):
        if not self.slug:
            from content.slugs import unique_slug

            others = Post.objects.exclude(pk=self.pk)
            self.slug = unique_slug(
                self.title,
                lambda slug: others.filter(slug=slug).exists(),
                self._meta.get_field("slug").max_length,
            )
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("blog-detail", kwargs={"slug": self.slug})
