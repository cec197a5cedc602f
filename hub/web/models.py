"""What the web UI adds to the schema (migration 0002_inbox_ui): per-agent read markers for
unread counts, and indexes that make the live-update polls (max(updated_at)) cheap."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base
from hub.models import ID, Conversation, Reply, UTCDateTime, now


class ConversationRead(Base):
    """The last message an agent has seen in a conversation (unread = inbound messages after it)."""

    __tablename__ = "conversation_reads"
    __table_args__ = (UniqueConstraint("user_id", "conversation_id", name="uq_read_user_conversation"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    last_message_id: Mapped[int] = mapped_column(ID, default=0)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


# The inbox's and the widget's event streams ask "what changed since?" every second.
Index("ix_replies_updated_at", Reply.updated_at)
Index("ix_conversations_updated_at", Conversation.updated_at)
