"""The customer task everything generated here shares: support-ticket classification, one
label set and one generator (the sandbox's and the demo's customer data, the forgetting
experiment's customer task and held-out set, the tests' tickets).

A record is ``{"input": "Classify this support ticket.\\n<text>", "output": <label>}``; a text
is one of each label's templates with a product or an order number filled in, between an
optional greeting and an optional sign-off, so the label follows from the words, not the form.
"""
from __future__ import annotations

import random

Record = dict

TICKET_INSTRUCTION = "Classify this support ticket."
PRODUCTS = ("kettle", "lamp", "backpack", "blender", "jacket", "camera", "speaker", "watch", "toaster", "headphones")
OPENINGS = ("", "Hello.", "Hi team.", "Good morning.")
CLOSINGS = ("", "Thanks.", "Please help.", "Thank you.")
TICKET_TEMPLATES = {
    "billing": (
        "I was charged twice for order {order}.", "The invoice for my {product} shows the wrong amount.",
        "My card was billed two times for the {product}.", "There is an extra fee on my bill for order {order}.",
    ),
    "login": (
        "I cannot sign in to check order {order}.", "My password stopped working after I ordered the {product}.",
        "The sign in code never arrives so I cannot see order {order}.", "I am locked out and cannot log in to track the {product}.",
    ),
    "shipping": (
        "Order {order} has not arrived yet.", "The tracking for my {product} has not moved in a week.",
        "My {product} was sent to the wrong address.", "When will order {order} be delivered?",
    ),
    "refund": (
        "I returned the {product} but never got my money back.", "Please refund order {order}.",
        "I am still waiting for the refund on order {order}.", "The {product} went back two weeks ago and there is no refund yet.",
    ),
    "bug": (
        "The app crashes when I open order {order}.", "The page shows an error when I add the {product} to my cart.",
        "The checkout button does nothing for the {product}.", "The app freezes when I view order {order}.",
    ),
    "feature_request": (
        "Could you add a gift option for the {product}?", "Please let me pay for the {product} in parts.",
        "It would be great to share order {order} with a friend.", "Could you add a size guide for the {product}?",
    ),
    "account": (
        "I want to change the email on my account for order {order}.", "Please change the name on my account used for order {order}.",
        "How do I merge my two accounts? One has order {order}.", "I need to update my profile details after buying the {product}.",
    ),
    "privacy": (
        "Please delete all my personal data linked to order {order}.", "Who can see the reviews I wrote about the {product}?",
        "I want a copy of the data you keep about me and order {order}.", "Stop sharing my details with partners since I bought the {product}.",
    ),
    "cancellation": (
        "Please cancel order {order} before it ships.", "I changed my mind and want to cancel the {product}.",
        "Cancel my subscription linked to order {order}.", "I no longer want the {product} so please stop the order.",
    ),
    "upgrade": (
        "I want to move to the premium plan after buying the {product}.", "How do I upgrade my plan for order {order}?",
        "Please upgrade my {product} warranty to the gold plan.", "Can I switch to the bigger plan with order {order}?",
    ),
    "outage": (
        "The whole site is down and I cannot view order {order}.", "Nothing loads for anyone in my office, not even the {product} page.",
        "Your service has been offline for an hour and order {order} is stuck.", "The app will not connect to the server to show the {product}.",
    ),
    "feedback": (
        "I love the {product}, great job.", "The delivery of order {order} was fast and friendly.",
        "Just wanted to say the {product} works really well.", "Great service on order {order}, thank you.",
    ),
}
TICKET_LABELS = tuple(TICKET_TEMPLATES)
# Content words of the templates besides the products: every word a tuned model may have to say.
TICKET_WORDS = ("order", "account", "card", "plan", "site", "page", "data", "team", "friend", "week", "hour", "money", "email", "service")


def ticket_text(rng: random.Random, label: str) -> str:
    body = rng.choice(TICKET_TEMPLATES[label]).format(product=rng.choice(PRODUCTS), order=rng.randint(10000, 99999))
    return " ".join(part for part in (rng.choice(OPENINGS), body, rng.choice(CLOSINGS)) if part)


def ticket_record(text: str, label: str) -> Record:
    return {"input": f"{TICKET_INSTRUCTION}\n{text}", "output": label}


def customer_tickets(rng: random.Random, train_per_label: int, heldout_per_label: int) -> tuple[list[Record], list[Record]]:
    """Training and held-out tickets: every label in both, no ticket text in both."""
    seen: set[str] = set()
    train, heldout = [], []
    for label in TICKET_LABELS:
        texts = unique_tickets(rng, label, train_per_label + heldout_per_label, seen)
        heldout += [ticket_record(text, label) for text in texts[:heldout_per_label]]
        train += [ticket_record(text, label) for text in texts[heldout_per_label:]]
    rng.shuffle(train)
    rng.shuffle(heldout)
    return train, heldout


def unique_tickets(rng: random.Random, label: str, count: int, seen: set[str]) -> list[str]:
    texts: list[str] = []
    while len(texts) < count:
        text = ticket_text(rng, label)
        if text not in seen:
            seen.add(text)
            texts.append(text)
    return texts


def random_ticket(rng: random.Random) -> Record:
    """One ticket of a label drawn at random; labels and texts may repeat across draws."""
    label = rng.choice(TICKET_LABELS)
    return ticket_record(ticket_text(rng, label), label)
