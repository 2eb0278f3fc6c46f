"""Vietnamese vocabulary the simulator draws names and texts from (data only)."""

from __future__ import annotations

# (root id, root name, root url_key, leaves); a leaf is
# (name, noun used in product names, typical price in VND, spec kind).
ROOTS: list[tuple[int, str, str, list[tuple[str, str, int, str]]]] = [
    (1789, "Điện Thoại - Máy Tính Bảng", "dien-thoai-may-tinh-bang", [
        ("Điện thoại Smartphone", "Điện thoại", 6_500_000, "phone"),
        ("Máy tính bảng", "Máy tính bảng", 8_000_000, "phone"),
        ("Điện thoại phổ thông", "Điện thoại", 650_000, "phone"),
        ("Máy đọc sách", "Máy đọc sách", 3_200_000, "phone"),
    ]),
    (1846, "Laptop - Máy Vi Tính - Linh kiện", "laptop-may-vi-tinh-linh-kien", [
        ("Laptop", "Laptop", 15_000_000, "computer"),
        ("Chuột - Bàn phím", "Bàn phím cơ", 450_000, "accessory"),
        ("Ổ cứng SSD", "Ổ cứng SSD", 1_100_000, "computer"),
        ("Màn hình máy tính", "Màn hình", 3_800_000, "computer"),
    ]),
    (1815, "Thiết Bị Số - Phụ Kiện Số", "thiet-bi-kts-phu-kien-so", [
        ("Tai nghe Bluetooth", "Tai nghe Bluetooth", 590_000, "accessory"),
        ("Sạc dự phòng", "Pin sạc dự phòng", 350_000, "accessory"),
        ("Cáp sạc", "Cáp sạc", 120_000, "accessory"),
        ("Loa Bluetooth", "Loa Bluetooth", 790_000, "accessory"),
        ("Đồng hồ thông minh", "Đồng hồ thông minh", 1_900_000, "accessory"),
    ]),
    (1882, "Điện Gia Dụng", "dien-gia-dung", [
        ("Nồi cơm điện", "Nồi cơm điện", 890_000, "appliance"),
        ("Nồi chiên không dầu", "Nồi chiên không dầu", 1_500_000, "appliance"),
        ("Máy xay sinh tố", "Máy xay sinh tố", 650_000, "appliance"),
        ("Bàn ủi hơi nước", "Bàn ủi hơi nước", 420_000, "appliance"),
        ("Quạt điện", "Quạt đứng", 550_000, "appliance"),
    ]),
    (1883, "Nhà Cửa - Đời Sống", "nha-cua-doi-song", [
        ("Dụng cụ nhà bếp", "Bộ nồi inox", 690_000, "home"),
        ("Hộp đựng thực phẩm", "Hộp đựng thực phẩm", 180_000, "home"),
        ("Đèn LED", "Đèn LED", 150_000, "home"),
        ("Chăn ga gối", "Bộ chăn ga gối", 850_000, "home"),
    ]),
    (8322, "Nhà Sách Tiki", "nha-sach-tiki", [
        ("Sách kỹ năng sống", "Sách", 120_000, "book"),
        ("Tiểu thuyết", "Tiểu thuyết", 150_000, "book"),
        ("Sách thiếu nhi", "Truyện tranh", 45_000, "book"),
        ("Sách kinh tế", "Sách", 180_000, "book"),
    ]),
    (1520, "Làm Đẹp - Sức Khỏe", "lam-dep-suc-khoe", [
        ("Sữa rửa mặt", "Sữa rửa mặt", 160_000, "beauty"),
        ("Kem chống nắng", "Kem chống nắng", 280_000, "beauty"),
        ("Dầu gội", "Dầu gội", 140_000, "beauty"),
        ("Son môi", "Son môi", 220_000, "beauty"),
    ]),
    (4384, "Bách Hóa Online", "bach-hoa-online", [
        ("Sữa tươi", "Thùng sữa tươi", 330_000, "food"),
        ("Cà phê", "Cà phê", 95_000, "food"),
        ("Bánh kẹo", "Bánh quy", 65_000, "food"),
        ("Nước giặt", "Nước giặt", 190_000, "food"),
    ]),
    (1975, "Thể Thao - Dã Ngoại", "the-thao-da-ngoai", [
        ("Giày chạy bộ", "Giày chạy bộ", 890_000, "fashion"),
        ("Dụng cụ tập gym", "Tạ tay", 350_000, "home"),
        ("Lều cắm trại", "Lều cắm trại", 1_200_000, "home"),
    ]),
    (2549, "Đồ Chơi - Mẹ & Bé", "do-choi-me-be", [
        ("Tã bỉm", "Tã dán", 320_000, "food"),
        ("Đồ chơi lắp ráp", "Đồ chơi lắp ráp", 450_000, "home"),
        ("Sữa bột", "Sữa bột", 520_000, "food"),
    ]),
    (931, "Thời trang nữ", "thoi-trang-nu", [
        ("Áo thun nữ", "Áo thun nữ", 150_000, "fashion"),
        ("Đầm nữ", "Đầm", 320_000, "fashion"),
        ("Túi xách nữ", "Túi xách", 450_000, "fashion"),
    ]),
]

LEAF_QUALIFIERS = ["cao cấp", "giá rẻ", "chính hãng", "mini", "cho bé", "du lịch", "gia đình",
                   "văn phòng", "nhập khẩu", "thông minh", "đa năng", "loại lớn"]

BRANDS = ["Samsung", "Apple", "Xiaomi", "OPPO", "vivo", "Realme", "Nokia", "ASUS", "Dell", "HP",
          "Lenovo", "Acer", "Logitech", "Kingston", "Sony", "JBL", "Anker", "Baseus", "Ugreen",
          "Sunhouse", "Lock&Lock", "Philips", "Panasonic", "Sharp", "Toshiba", "Kangaroo",
          "Điện Quang", "Rạng Đông", "Thiên Long", "Biti's", "Vinamilk", "TH true MILK",
          "Trung Nguyên", "Nestlé", "Omo", "Bioré", "La Roche-Posay", "L'Oréal", "Cocoon",
          "Hada Labo", "Nhã Nam", "First News", "NXB Kim Đồng", "NXB Trẻ", "Alpha Books",
          "Adidas", "Nike", "Kamito", "LEGO", "Bobby", "Huggies", "Pigeon", "Canifa", "Yody",
          "Elmich", "Happycook", "Hòa Phát", "Tefal", "Comet", "Sunhouse Mama", "OEM"]

SYLLABLES = ["Vi", "na", "Ta", "Ka", "Mi", "Lu", "Son", "Tech", "Home", "Sao", "Việt", "Phú",
             "An", "Minh", "Hưng", "Kim", "Lo", "Ra", "Zen", "Go", "Max", "Pro", "Mộc", "Tân"]

MODEL_PREFIXES = ["A", "S", "X", "Pro ", "Lite ", "Max ", "HD-", "KG", "SH", "M", "Z", "Note "]

SPEC_VARIANTS: dict[str, list[str]] = {
    "phone": ["8GB/128GB", "4GB/64GB", "12GB/256GB", "6GB/128GB", "8GB/256GB"],
    "computer": ["i5 1235U/8GB/512GB", "Ryzen 5/16GB/512GB", "1TB", "27 inch 2K 75Hz", "500GB"],
    "accessory": ["Màu Đen", "Màu Trắng", "20000mAh", "Type-C 1m", "Chống ồn ANC"],
    "appliance": ["1.8L", "5.5L", "1000W", "2200W", "Màu Kem"],
    "home": ["Size 30cm", "Bộ 5 món", "1m6 x 2m", "Loại lớn", "Set 3 hộp"],
    "book": ["Bìa mềm", "Bìa cứng", "Tái bản 2024", "Tập 1", "Bản đặc biệt"],
    "beauty": ["150ml", "50ml", "400ml", "Màu 01", "Tuýp 100g"],
    "food": ["Hộp 1L", "Lốc 4 hộp", "Gói 500g", "Size M 60 miếng", "Túi 3.6kg"],
    "fashion": ["Size M", "Size L", "Size 42", "Màu Be", "Freesize"],
}

NAME_SUFFIXES = ["- Hàng chính hãng", "- Hàng Chính Hãng", "", "- Bảo hành 12 tháng",
                 "(Hàng nhập khẩu)", "- Chính hãng phân phối", ""]

COLORS = ["Đen", "Trắng", "Xanh dương", "Đỏ", "Hồng", "Xám", "Vàng", "Xanh lá", "Tím", "Bạc"]

ORIGINS = ["Việt Nam", "Trung Quốc", "Hàn Quốc", "Nhật Bản", "Thái Lan", "Mỹ", "Đức", "Indonesia"]

SELLERS = ["Tiki Trading", "Nhà Sách Phương Nam", "Điện Máy Xanh Official", "Minh Tuấn Mobile",
           "Gia Dụng Sài Gòn", "Mỹ Phẩm Hàn Quốc Chính Hãng", "Bách Hóa An Phú", "Kho Sỉ Hà Nội",
           "Phụ Kiện Số 24h", "Thời Trang Yody", "Tiki Ngon", "Shop Mẹ Bé Kiwi", "Sách Alpha",
           "Đồ Chơi Trí Tuệ Việt", "ANKER Official Store", "Samsung Official Store"]

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi",
          "Đỗ", "Hồ", "Ngô", "Dương", "Lý"]
MIDDLE = ["Văn", "Thị", "Hữu", "Minh", "Ngọc", "Thanh", "Đức", "Quốc", "Gia", "Thu", "Bảo"]
GIVEN = ["An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hiếu", "Hoa", "Hùng",
         "Khánh", "Lan", "Linh", "Long", "Mai", "Nam", "Nga", "Phúc", "Quân", "Sơn", "Tâm",
         "Thảo", "Trang", "Trung", "Tú", "Tuấn", "Uyên", "Vy", "Yến"]
REGIONS = ["Hồ Chí Minh", "Hà Nội", "Đà Nẵng", "Cần Thơ", "Hải Phòng", "Bình Dương", "Đồng Nai",
           "Khánh Hòa", "Nghệ An", "Thừa Thiên Huế", "Lâm Đồng", "Quảng Ninh"]

REVIEW_TITLES = {1: "Rất không hài lòng", 2: "Không hài lòng", 3: "Bình thường",
                 4: "Hài lòng", 5: "Cực kì hài lòng", 0: "Không đánh giá", 6: "Tuyệt vời"}

REVIEW_SENTENCES = {
    "good": ["Sản phẩm đúng mô tả, đóng gói cẩn thận.", "Giao hàng nhanh, shipper thân thiện.",
             "Chất lượng tốt so với giá tiền, sẽ ủng hộ tiếp.", "Dùng được một tuần thấy rất ổn.",
             "Hàng chính hãng, có tem bảo hành đầy đủ.", "Mình rất hài lòng với sản phẩm này!",
             "Tiki giao hàng siêu tốc, 2h là nhận được hàng.", "Màu sắc đẹp, y hình, đáng tiền."],
    "mid": ["Sản phẩm tạm ổn, không có gì đặc biệt.", "Giao hàng hơi chậm nhưng hàng ổn.",
            "Chất lượng tương xứng với giá.", "Hộp bị móp nhẹ, sản phẩm bên trong vẫn dùng được."],
    "bad": ["Sản phẩm không giống mô tả, khá thất vọng.", "Giao thiếu phụ kiện, đã liên hệ shop.",
            "Dùng được vài ngày thì bị lỗi.", "Đóng gói sơ sài, hàng bị trầy xước.",
            "Không nên mua, phí tiền."],
}

DESCRIPTION_SENTENCES = [
    "Sản phẩm được thiết kế hiện đại, tinh tế và sang trọng, phù hợp với mọi không gian.",
    "Chất liệu cao cấp, bền bỉ theo thời gian và an toàn cho sức khỏe người dùng.",
    "Công nghệ mới nhất giúp tiết kiệm điện năng đến 30% so với thế hệ trước.",
    "Dễ dàng sử dụng và vệ sinh, thích hợp cho cả gia đình.",
    "Sản phẩm đã được kiểm định chất lượng và đạt các tiêu chuẩn an toàn của Bộ Công Thương.",
    "Giá sản phẩm trên Tiki đã bao gồm thuế theo luật hiện hành.",
    "Bên cạnh đó, tuỳ vào loại sản phẩm, hình thức và địa chỉ giao hàng mà có thể phát sinh thêm chi phí khác như phí vận chuyển, phụ phí hàng cồng kềnh.",
    "Kích thước nhỏ gọn, dễ dàng mang theo khi đi du lịch hay công tác.",
    "Bảo hành chính hãng 12 tháng tại các trung tâm bảo hành trên toàn quốc.",
]

WARRANTY_PLACES = ["Bảo hành chính hãng", "Bảo hành bởi nhà bán hàng", "Không bảo hành"]

BOOK_TITLES = ["Đắc Nhân Tâm", "Nhà Giả Kim", "Tuổi Trẻ Đáng Giá Bao Nhiêu", "Cây Cam Ngọt Của Tôi",
               "Muôn Kiếp Nhân Sinh", "Tôi Thấy Hoa Vàng Trên Cỏ Xanh", "Dế Mèn Phiêu Lưu Ký",
               "Nghĩ Giàu Làm Giàu", "Sapiens Lược Sử Loài Người", "Thám Tử Lừng Danh Conan"]
