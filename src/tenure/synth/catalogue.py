"""A product catalogue: ~2,000 products in 20 categories with log-normal prices.

Products are sorted by (category, price) so that "the product of this category closest to this
price" is one vectorised searchsorted; that is how a customer's price level shapes their baskets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

# (category, median unit price in $, nouns); popularity falls with the position in this list.
CATEGORIES = (
    ("Coffee", 14, ("Espresso Beans", "Filter Blend", "Cold Brew", "Decaf Roast")),
    ("Tea", 9, ("Green Tea", "Earl Grey", "Herbal Infusion", "Chai")),
    ("Snacks", 5, ("Granola Bar", "Trail Mix", "Crackers", "Dark Chocolate")),
    ("Kitchen", 22, ("Mug", "Cutting Board", "Spatula", "Storage Jar")),
    ("Personal Care", 12, ("Shampoo", "Hand Cream", "Soap Bar", "Lip Balm")),
    ("Home", 28, ("Candle", "Throw Pillow", "Vase", "Picture Frame")),
    ("Apparel", 35, ("T-Shirt", "Hoodie", "Socks", "Cap")),
    ("Beauty", 18, ("Face Serum", "Mascara", "Cleanser", "Sheet Mask")),
    ("Pet", 15, ("Dog Treats", "Cat Toy", "Pet Bowl", "Leash")),
    ("Stationery", 7, ("Notebook", "Pen Set", "Planner", "Sticky Notes")),
    ("Baby", 20, ("Bib", "Pacifier", "Baby Wipes", "Blanket")),
    ("Sports", 30, ("Yoga Mat", "Water Bottle", "Resistance Band", "Gym Towel")),
    ("Garden", 16, ("Seed Pack", "Trowel", "Planter", "Gloves")),
    ("Toys", 19, ("Puzzle", "Building Blocks", "Plush Toy", "Card Game")),
    ("Books", 14, ("Cookbook", "Novel", "Travel Guide", "Notebook Journal")),
    ("Electronics", 45, ("USB Cable", "Phone Case", "Earbuds", "Power Bank")),
    ("Outdoor", 38, ("Camping Lantern", "Hiking Socks", "Dry Bag", "Multi-Tool")),
    ("Wellness", 24, ("Vitamins", "Protein Powder", "Sleep Spray", "Massage Ball")),
    ("Gifts", 26, ("Gift Box", "Gift Card Holder", "Hamper", "Greeting Card Set")),
    ("Accessories", 32, ("Tote Bag", "Wallet", "Sunglasses", "Scarf")),
)
ADJECTIVES = ("Classic", "Organic", "Premium", "Everyday", "Deluxe", "Mini", "Eco", "Signature",
              "Vintage", "Essential", "Travel", "Family")
VARIANTS = ("", " Small", " Large", " Blue", " Black", " Natural", " Twin Pack", " Limited")


@dataclass(frozen=True)
class Catalogue:
    category: np.ndarray  # per product, int
    cents: np.ndarray  # unit price in cents, int64
    key: np.ndarray  # category * 100 + log(price): sorted, for price look-ups
    cat_start: np.ndarray  # first product of each category
    cat_stop: np.ndarray
    cat_log_median: np.ndarray
    cat_popularity: np.ndarray  # probabilities per category
    sku: pa.Array
    name: pa.Array


def make_catalogue(rng: np.random.Generator, per_category: int = 100) -> Catalogue:
    n_cat = len(CATEGORIES)
    medians = np.array([c[1] for c in CATEGORIES], dtype=float)
    category = np.repeat(np.arange(n_cat), per_category)
    log_price = np.log(medians)[category] + rng.normal(0, 0.55, len(category))
    # Shop prices end in .99, .49 or round dollars; at least $0.99.
    dollars = np.maximum(np.floor(np.exp(log_price)), 0)
    endings = np.array([99, 49, 0, 95])[rng.integers(0, 4, len(category))]
    cents = (dollars * 100 + endings).astype(np.int64)
    cents = np.where(cents < 99, 99, cents)
    order = np.lexsort((cents, category))
    category, cents = category[order], cents[order]
    key = category * 100.0 + np.log(cents / 100.0)
    starts = np.searchsorted(category, np.arange(n_cat))
    stops = np.searchsorted(category, np.arange(n_cat), side="right")
    popularity = 1.0 / (np.arange(n_cat) + 3.0)  # Zipf-like: a few categories dominate
    # Names: built once per product (a Python loop over 2,000 products, not over orders).
    adj = rng.integers(0, len(ADJECTIVES), len(category))
    noun = rng.integers(0, 4, len(category))
    var = rng.integers(0, len(VARIANTS), len(category))
    names = [f"{ADJECTIVES[a]} {CATEGORIES[c][2][n]}{VARIANTS[v]}"
             for a, c, n, v in zip(adj, category, noun, var)]
    skus = [f"SKU{i + 1:05d}" for i in range(len(category))]
    return Catalogue(category, cents, key, starts, stops, np.log(medians),
                     popularity / popularity.sum(), pa.array(skus, pa.string()),
                     pa.array(names, pa.string()))


def pick_products(cat: Catalogue, category: np.ndarray, log_price: np.ndarray) -> np.ndarray:
    """The product of each given category whose price is nearest above the target (log $)."""
    wanted = category * 100.0 + log_price
    idx = np.searchsorted(cat.key, wanted)
    return np.clip(idx, cat.cat_start[category], cat.cat_stop[category] - 1)
