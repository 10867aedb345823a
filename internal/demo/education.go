package demo

import (
	"context"
	"time"

	"github.com/yunyi-health/yunyi/internal/education"
)

// EducationSource is the source line of the demo's health-education
// articles: written for the demo, general knowledge only.
const EducationSource = "云医演示内容，仅供健康教育参考"

// educationArticles are the demo's health-education articles (W-6) for
// the three pilot specialties: short, general texts written for Yunyi,
// not taken from any publication.
var educationArticles = []education.Article{
	{Specialty: "growth", Title: "怎样在家给孩子测量身高体重", TitleEN: "Measuring your child's height and weight at home",
		Body: "测量身高最好在早晨起床后进行，孩子脱鞋、背靠墙站直，脚跟、臀部和后脑勺贴墙，双眼平视前方，用硬书本或直角尺压在头顶，在墙上做记号后再量。\n" +
			"两岁以内的孩子宜躺着量身长，需要两个人配合。体重最好在早晨排便后、进食前，穿单衣测量。\n" +
			"每次测量的时间和方法尽量保持一致，把结果记录下来，复诊时带给医生，医生会结合生长曲线判断生长速度。"},
	{Specialty: "growth", Title: "睡眠、运动与孩子的生长", TitleEN: "Sleep, exercise and growth",
		Body: "充足的睡眠对儿童生长发育很重要。学龄前儿童一般每天需要 10 到 13 小时睡眠，学龄儿童 9 到 12 小时，青少年 8 到 10 小时，尽量固定作息、睡前减少屏幕时间。\n" +
			"每天保持户外活动，跳绳、游泳、球类等全身运动都适合孩子，以孩子能坚持、感到愉快为宜。\n" +
			"生长速度明显变慢、身高长期明显低于同龄孩子，或出现过早的青春期表现时，请按医生建议复诊。"},
	{Specialty: "nutrition", Title: "学龄前儿童的均衡饮食", TitleEN: "A balanced diet for preschool children",
		Body: "每天的饮食应包括谷薯类、蔬菜水果、鱼禽肉蛋、奶类和豆类，食物种类尽量多样。\n" +
			"三餐定时定量，两餐之间可安排少量水果或奶作为加餐，少吃油炸食品、含糖饮料和零食。\n" +
			"鼓励孩子自己进食，不强迫、不追喂，也不把食物当作奖励。饮水以白开水为主。\n" +
			"如孩子长期挑食、体重增长不理想或超重，可以在营养门诊由医生评估后制定个体化的饮食方案。"},
	{Specialty: "nutrition", Title: "孩子偏瘦或超重时家长可以做什么", TitleEN: "When a child is underweight or overweight",
		Body: "偏瘦或超重都需要先由医生评估，排除疾病因素后再调整饮食和生活方式，家长不要自行节食或大量进补。\n" +
			"记录孩子一周的饮食和活动情况，复诊时交给医生，有助于找出问题所在。\n" +
			"全家一起养成规律进餐、少喝含糖饮料、多活动的习惯，比单独要求孩子更容易坚持。\n" +
			"体重的变化需要时间，按医生建议定期复查即可，不必每天称重。"},
	{Specialty: "skin", Title: "儿童湿疹的日常护理", TitleEN: "Everyday care of childhood eczema",
		Body: "湿疹的护理重在保湿：每天洗澡后三分钟内全身涂抹保湿霜，皮肤干燥时可以多次使用。\n" +
			"洗澡水温不宜过高，时间控制在 5 到 10 分钟，选用温和、无香料的清洁用品。\n" +
			"衣物以宽松、纯棉为宜，剪短指甲，避免搔抓。室内保持适宜的温度和湿度，避免过热出汗。\n" +
			"外用药请按医生处方的部位、次数和疗程使用。皮疹渗液、结黄痂、发热或明显加重时，请及时就医。"},
	{Specialty: "skin", Title: "儿童防晒与皮肤保护", TitleEN: "Sun protection for children's skin",
		Body: "六个月以内的婴儿以避免阳光直射为主，使用遮阳帽、遮阳伞和浅色长袖衣物。\n" +
			"较大的孩子外出时可以使用适合儿童的防晒霜，出门前 15 到 30 分钟涂抹，出汗或游泳后及时补涂。\n" +
			"上午 10 点到下午 4 点阳光最强，户外活动尽量安排在早晚或阴凉处。\n" +
			"皮肤出现晒伤、水疱或不明原因的皮疹时，请咨询皮肤科医生。"},
}

// educationInstitutions are the demo institutions that publish the
// articles: the two pilot institutions with the three pilot specialties.
var educationInstitutions = []string{"bch", "ccmc"}

// LoadEducation saves the demo's health-education articles for each
// institution that has none yet.
func LoadEducation(ctx context.Context, s education.Store, now time.Time) error {
	for _, inst := range educationInstitutions {
		have, err := s.Articles(ctx, inst)
		if err != nil {
			return err
		}
		if len(have) > 0 {
			continue
		}
		for _, a := range educationArticles {
			a.Institution, a.Source, a.CreatedAt = inst, EducationSource, now
			if err := a.Validate(); err != nil {
				return err
			}
			if err := s.SaveArticle(ctx, &a); err != nil {
				return err
			}
		}
	}
	return nil
}

// education loads the articles when the store keeps them.
func (l *loader) education(ctx context.Context) error {
	if es, ok := l.s.(education.Store); ok {
		return LoadEducation(ctx, es, l.now)
	}
	return nil
}
